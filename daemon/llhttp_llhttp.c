/* daemon/llhttp_llhttp.c -- compiles llhttp's llhttp.c from the node-llhttp
 * sources ($(LLHTTP_SRC)); no llhttp code is kept in this repository. */
#include <llhttp.c>
