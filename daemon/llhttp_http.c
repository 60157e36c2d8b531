/* daemon/llhttp_http.c -- compiles llhttp's http.c from the node-llhttp
 * sources ($(LLHTTP_SRC)); no llhttp code is kept in this repository. */
#include <http.c>
