/*
 * provider_int.h: helpers shared by the provider implementations (provider_openai.c, provider_anthropic.c,
 * provider_mock.c); defined in provider.c. Not part of the engine's interface (that is provider.h).
 *
 * Indices are stack indices on the calling state, which must belong to an ag_rt_t.
 */
#ifndef AG_LLM_PROVIDER_INT_H
#define AG_LLM_PROVIDER_INT_H

#include <lauxlib.h>
#include <lua.h>

#include "provider.h"

/* 1 when the value at idx is a table whose keys are exactly 1..n (the empty table counts), else 0.
 * Raw access only: never raises. */
int ag__llm_is_array(lua_State *L, int idx);
/* 1 when the value at idx is a table whose keys are all strings (the empty table counts), else 0. */
int ag__llm_is_object(lua_State *L, int idx);
/* 1 when the value at idx is json.null (what the decoder gives for JSON null). */
int ag__llm_is_null(lua_State *L, int idx);
/* Pushes json.null. */
void ag__llm_push_null(lua_State *L);

/* 1 when the normalized request at req asks for JSON (json = true, or a schema table). */
int ag__llm_wants_json(lua_State *L, int req);
/* Pushes the system prompt for the request at req: its `system` string, followed, when the request asks
 * for JSON, by an instruction to answer with one JSON object only (and the schema as JSON text when there
 * is one); nil when there is neither. Raises when system is not a string. */
void ag__llm_push_system(lua_State *L, int req);

/* Copies req[key] into dst[key] when it is not nil; raises "llm: <key> must be a <type>" when it has
 * another type than type (LUA_TSTRING, LUA_TNUMBER, ...). */
void ag__llm_copy_field(lua_State *L, int req, int dst, const char *key, int type);

/* Copies "<base or dflt without trailing slashes><path>" into w->url; raises when it does not fit, or
 * when key (NULL allowed) holds a byte that cannot go into a header (the key itself is never shown). */
void ag__llm_set_url(lua_State *L, ag_llm_wire_t *w, const char *base, const char *dflt, const char *path,
                     const char *key);

/* Runs f with the value at body as its only argument, protected. On success leaves f's one result on the
 * stack and returns 0; when f raises (a malformed response), pushes nothing, copies the message into err
 * and returns AG_EINVAL. f reports shape errors with luaL_error. */
int ag__llm_parse_protected(lua_State *L, int body, lua_CFunction f, ag_err_t *err);

/* For parsers: the non-negative integer at idx; nil/null give 0; raises "<what> must be a non-negative
 * number" otherwise. */
lua_Integer ag__llm_count(lua_State *L, int idx, const char *what);

#endif
