/* openapi.c: GET /api/v1/openapi.yaml: the API contract (api/openapi.yaml), embedded at build time. */
#include "http.h"

extern const char ag_embed_openapi_yaml[];
extern const size_t ag_embed_openapi_yaml_len;

void ag_api_openapi(ag_http_ctx_t *c)
{
    ag_http_send(c, 200, "application/yaml", ag_embed_openapi_yaml, ag_embed_openapi_yaml_len);
}
