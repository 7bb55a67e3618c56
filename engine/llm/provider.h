/*
 * provider.h: one C interface for every LLM provider (DESIGN §6).
 *
 * A provider only translates. The engine (engine/llm/) owns the transport (libcurl multi on the
 * worker's loop), retries, limits, the journal and the Lua binding; a provider turns the engine's
 * normalized request into its wire format and its wire response back into the normalized response.
 * Both sides are Lua tables on the calling thread's runtime state, so nothing is copied twice and the
 * JSON text is produced/parsed by the runtime's own codec (ag_llm_json_encode/decode below).
 *
 * Normalized request (a Lua table), every field optional except messages:
 *   model       string  (already resolved: never nil when build/answer run)
 *   system      string
 *   messages    array of {role = "user"|"assistant"|"tool", content = string,
 *                         tool_calls = array of {id = string, name = string, arguments = table}  (assistant),
 *                         tool_call_id = string, name = string                                    (tool)}
 *   temperature number
 *   max_tokens  integer
 *   tools       array of {name = string, description = string, parameters = table (JSON schema)}
 *   json        boolean  (answer with a JSON object)
 *   schema      table    (JSON schema the answer must satisfy; implies json)
 *
 * Normalized response (a Lua table):
 *   text          string (may be "" when the model only calls tools)
 *   tool_calls    array of {id, name, arguments = table} or nil
 *   usage         {prompt_tokens = integer, completion_tokens = integer}
 *   model         string (as reported by the provider, else the requested one)
 *   finish_reason "stop" | "tool_calls" | "length" | other provider strings
 */
#ifndef AG_LLM_PROVIDER_H
#define AG_LLM_PROVIDER_H

#include "../buf.h"
#include "../common.h"

typedef struct lua_State lua_State;

/* Where and as whom a provider is called (from configuration). Strings are borrowed. */
typedef struct ag_llm_target_s {
    const char *name;     /* "openai", "anthropic", "mock" */
    const char *base_url; /* no trailing slash, e.g. "https://api.openai.com/v1"; NULL for mock */
    const char *api_key;  /* NULL or "" when none */
} ag_llm_target_t;

#define AG_LLM_MAX_HEADERS 8

/* The HTTP request a provider asks for (always POST, JSON body). Filled by build. */
typedef struct ag_llm_wire_s {
    char url[1024];
    int nheaders;
    char *headers[AG_LLM_MAX_HEADERS]; /* "Name: value", malloc'd; freed by ag_llm_wire_free */
} ag_llm_wire_t;

void ag_llm_wire_header(ag_llm_wire_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ag_llm_wire_free(ag_llm_wire_t *w);

typedef struct ag_llm_provider_s {
    const char *name;
    /* Pushes the wire body (a Lua table, which the engine encodes to JSON) for the normalized request
     * at stack index req, and fills w (URL, headers incl. authentication, but not Content-Type).
     * May raise a Lua error for a request the provider cannot express. NULL for offline providers. */
    void (*build)(lua_State *L, int req, const ag_llm_target_t *t, ag_llm_wire_t *w);
    /* Given the decoded 2xx body at stack index body, pushes the normalized response and returns 0;
     * for a body that is not a valid response pushes nothing and returns AG_EINVAL with err set
     * ("no choices in the response", ...). Must not raise on any decoded JSON shape. */
    int (*parse)(lua_State *L, int body, ag_err_t *err);
    /* Offline providers (mock) only: pushes the normalized response for req. NULL for network ones. */
    void (*answer)(lua_State *L, int req);
} ag_llm_provider_t;

extern const ag_llm_provider_t ag_llm_openai, ag_llm_anthropic, ag_llm_mock;

/* The provider called name, or NULL. */
const ag_llm_provider_t *ag_llm_provider(const char *name);

/* JSON through the runtime's codec (the state must belong to an ag_rt_t, engine/lua/runtime.h):
 * encode pushes the JSON text of the value at idx (raises on a value JSON cannot hold); decode pushes
 * the value of s (raises on invalid JSON). */
void ag_llm_json_encode(lua_State *L, int idx);
void ag_llm_json_decode(lua_State *L, const char *s, size_t n);

#endif
