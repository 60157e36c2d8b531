/* daemon/llhttp_api.c -- compiles llhttp's api.c from the node-llhttp
 * sources ($(LLHTTP_SRC)); no llhttp code is kept in this repository. */
#include <api.c>
