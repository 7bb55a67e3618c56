/*
 * provider_openai.c: the OpenAI chat-completions wire format (POST <base_url>/chat/completions), also spoken by
 * Azure OpenAI, OpenRouter, vLLM, llama.cpp's server and Ollama, hence base_url.
 *
 * build: the system prompt becomes the first message ({role = "system"}); an assistant turn's tool calls
 * become tool_calls with the arguments as JSON text (content null when the turn has no text); tool results
 * become {role = "tool", tool_call_id =}; tools become {type = "function", function = {...}}; json/schema
 * turn on JSON mode (response_format json_object), and the instruction plus the schema go into the system
 * prompt (ag__llm_push_system), since JSON mode refuses prompts that do not mention JSON and never sees the
 * schema. The key goes in "Authorization: Bearer" only when one is set (local servers need none).
 *
 * parse: reads choices[0].message. Every shape check raises inside ag__llm_parse_protected, so a malformed
 * body becomes AG_EINVAL with a message naming the offending field (JSON paths, 0-based), never a raise.
 */
#include <string.h>

#include "provider_int.h"

#define DEFAULT_BASE_URL "https://api.openai.com/v1"

/* ---- build ------------------------------------------------------------------------------------------------- */

/* Pushes {id =, type = "function", function = {name =, arguments = <JSON text>}} for the call at tc. */
static void push_tool_call(lua_State *L, int tc, lua_Integer i, lua_Integer k)
{
    if (!lua_istable(L, tc))
        luaL_error(L, "llm: messages[%d].tool_calls[%d] must be a table", (int)i, (int)k);
    lua_createtable(L, 0, 3); /* call */
    ag__llm_copy_field(L, tc, -1, "id", LUA_TSTRING);
    lua_pushliteral(L, "function");
    lua_setfield(L, -2, "type");
    lua_createtable(L, 0, 2); /* call, fn */
    ag__llm_copy_field(L, tc, -1, "name", LUA_TSTRING);
    switch (lua_getfield(L, tc, "arguments")) { /* call, fn, args */
    case LUA_TNIL:
        lua_pop(L, 1);
        lua_pushliteral(L, "{}");
        break;
    case LUA_TSTRING: /* already JSON text */
        break;
    case LUA_TTABLE:
        ag_llm_json_encode(L, -1); /* call, fn, args, text */
        lua_remove(L, -2);
        break;
    default:
        luaL_error(L, "llm: messages[%d].tool_calls[%d].arguments must be a table", (int)i, (int)k);
    }
    lua_setfield(L, -2, "arguments");
    lua_setfield(L, -2, "function"); /* call */
}

/* Pushes the content of the message at m: its string, or "" when it has none. */
static void push_content(lua_State *L, int m, lua_Integer i)
{
    int t = lua_getfield(L, m, "content");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else if (t != LUA_TSTRING) {
        luaL_error(L, "llm: messages[%d].content must be a string", (int)i);
    }
}

/* Pushes the wire messages array: the system prompt first, then the conversation. */
static void push_messages(lua_State *L, int req)
{
    lua_newtable(L); /* msgs */
    int msgs = lua_gettop(L);
    lua_Integer n = 0;
    ag__llm_push_system(L, req); /* msgs, system|nil */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
    } else {
        lua_createtable(L, 0, 2); /* msgs, system, msg */
        lua_pushliteral(L, "system");
        lua_setfield(L, -2, "role");
        lua_insert(L, -2);
        lua_setfield(L, -2, "content");
        lua_rawseti(L, msgs, ++n);
    }
    if (lua_getfield(L, req, "messages") != LUA_TTABLE) /* msgs, src */
        luaL_error(L, "llm: messages must be an array");
    int src = lua_gettop(L);
    lua_Integer len = (lua_Integer)lua_rawlen(L, src);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, src, i); /* msgs, src, m */
        int m = lua_gettop(L);
        if (!lua_istable(L, m))
            luaL_error(L, "llm: messages[%d] must be a table", (int)i);
        lua_getfield(L, m, "role"); /* ..., m, role */
        const char *role = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        lua_createtable(L, 0, 4); /* ..., m, role, out */
        int out = lua_gettop(L);
        lua_pushvalue(L, -2);
        lua_setfield(L, out, "role");
        if (strcmp(role, "user") == 0) {
            push_content(L, m, i);
            lua_setfield(L, out, "content");
        } else if (strcmp(role, "assistant") == 0) {
            int t = lua_getfield(L, m, "tool_calls"); /* ..., out, calls */
            lua_Integer ncalls = t == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
            if (t != LUA_TNIL && t != LUA_TTABLE)
                luaL_error(L, "llm: messages[%d].tool_calls must be an array", (int)i);
            push_content(L, m, i); /* ..., out, calls, content */
            if (ncalls > 0 && lua_rawlen(L, -1) == 0) {
                lua_pop(L, 1);
                ag__llm_push_null(L); /* what the API sends for a turn that only calls tools */
            }
            lua_setfield(L, out, "content");
            if (ncalls > 0) {
                int calls = lua_gettop(L);
                lua_createtable(L, (int)ncalls, 0); /* ..., out, calls, wire */
                for (lua_Integer k = 1; k <= ncalls; k++) {
                    lua_rawgeti(L, calls, k);
                    push_tool_call(L, lua_gettop(L), i, k); /* ..., wire, tc, call */
                    lua_rawseti(L, -3, k);
                    lua_pop(L, 1);
                }
                lua_setfield(L, out, "tool_calls");
            }
            lua_pop(L, 1); /* ..., out */
        } else if (strcmp(role, "tool") == 0) {
            ag__llm_copy_field(L, m, out, "tool_call_id", LUA_TSTRING);
            push_content(L, m, i);
            lua_setfield(L, out, "content");
        } else {
            luaL_error(L, "llm: messages[%d].role must be \"user\", \"assistant\" or \"tool\"", (int)i);
        }
        lua_settop(L, out);
        lua_rawseti(L, msgs, ++n);
        lua_settop(L, src);
    }
    lua_pop(L, 1); /* msgs */
}

/* Pushes the wire tools array for req's tools, or nothing (returns 0) when there are none. */
static int push_tools(lua_State *L, int req)
{
    int t = lua_getfield(L, req, "tools"); /* tools */
    if (t == LUA_TNIL || (t == LUA_TTABLE && lua_rawlen(L, -1) == 0)) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "llm: tools must be an array");
    int src = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, src);
    lua_createtable(L, (int)n, 0); /* tools, wire */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, src, i); /* tools, wire, tool */
        int tool = lua_gettop(L);
        if (!lua_istable(L, tool))
            luaL_error(L, "llm: tools[%d] must be a table", (int)i);
        lua_createtable(L, 0, 2); /* ..., tool, w */
        lua_pushliteral(L, "function");
        lua_setfield(L, -2, "type");
        lua_createtable(L, 0, 3); /* ..., tool, w, fn */
        ag__llm_copy_field(L, tool, -1, "name", LUA_TSTRING);
        ag__llm_copy_field(L, tool, -1, "description", LUA_TSTRING);
        int pt = lua_getfield(L, tool, "parameters"); /* ..., w, fn, params */
        if (pt == LUA_TNIL) {
            lua_pop(L, 1);
            lua_createtable(L, 0, 2); /* a function without parameters takes an empty object */
            lua_pushliteral(L, "object");
            lua_setfield(L, -2, "type");
            lua_newtable(L);
            lua_setfield(L, -2, "properties");
        } else if (pt != LUA_TTABLE) {
            luaL_error(L, "llm: tools[%d].parameters must be a table", (int)i);
        }
        lua_setfield(L, -2, "parameters");
        lua_setfield(L, -2, "function");
        lua_rawseti(L, src + 1, i); /* tools, wire, tool */
        lua_pop(L, 1);
    }
    lua_remove(L, src); /* wire */
    return 1;
}

static void build(lua_State *L, int req, const ag_llm_target_t *t, ag_llm_wire_t *w)
{
    req = lua_absindex(L, req);
    luaL_checkstack(L, 16, "llm: openai request");
    if (!lua_istable(L, req))
        luaL_error(L, "llm: the request must be a table");
    lua_createtable(L, 0, 7); /* body */
    int body = lua_gettop(L);
    ag__llm_copy_field(L, req, body, "model", LUA_TSTRING);
    push_messages(L, req);
    lua_setfield(L, body, "messages");
    ag__llm_copy_field(L, req, body, "temperature", LUA_TNUMBER);
    ag__llm_copy_field(L, req, body, "max_tokens", LUA_TNUMBER);
    if (push_tools(L, req))
        lua_setfield(L, body, "tools");
    if (ag__llm_wants_json(L, req)) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "json_object");
        lua_setfield(L, -2, "type");
        lua_setfield(L, body, "response_format");
    }
    /* Last, so that a raise above leaves w untouched; nothing below raises. */
    const char *key = t ? t->api_key : NULL;
    ag__llm_set_url(L, w, t ? t->base_url : NULL, DEFAULT_BASE_URL, "/chat/completions", key);
    if (key != NULL && *key != '\0')
        ag_llm_wire_header(w, "Authorization: Bearer %s", key);
}

/* ---- parse ------------------------------------------------------------------------------------------------- */

static int l_decode(lua_State *L)
{
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    ag_llm_json_decode(L, s, n);
    return 1;
}

/* Pushes the arguments table of the wire call whose function object is at fn (name: for the messages). */
static void push_arguments(lua_State *L, int fn, const char *name)
{
    int t = lua_getfield(L, fn, "arguments"); /* args */
    if (t == LUA_TNIL || ag__llm_is_null(L, -1) || (t == LUA_TSTRING && lua_rawlen(L, -1) == 0)) {
        lua_pop(L, 1); /* servers send "" (or nothing) for a function without parameters */
        lua_newtable(L);
        return;
    }
    if (t == LUA_TSTRING) {
        lua_pushcfunction(L, l_decode); /* args, decode */
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK)
            luaL_error(L, "invalid tool call arguments (tool %s): %s", name, lua_tostring(L, -1));
    }
    /* Some compatible servers send the object itself rather than its text. */
    if (!lua_istable(L, -1) || !ag__llm_is_object(L, -1))
        luaL_error(L, "invalid tool call arguments (tool %s): not a JSON object", name);
}

/* Pushes the normalized tool_calls array for the wire array at calls; returns how many it holds. */
static lua_Integer push_tool_calls(lua_State *L, int calls)
{
    if (!ag__llm_is_array(L, calls))
        luaL_error(L, "choices[0].message.tool_calls must be an array");
    lua_Integer n = (lua_Integer)lua_rawlen(L, calls);
    lua_createtable(L, (int)n, 0); /* out */
    for (lua_Integer k = 1; k <= n; k++) {
        lua_rawgeti(L, calls, k); /* out, call */
        int call = lua_gettop(L);
        if (!lua_istable(L, call) || !ag__llm_is_object(L, call))
            luaL_error(L, "choices[0].message.tool_calls[%d] must be an object", (int)(k - 1));
        if (lua_getfield(L, call, "function") != LUA_TTABLE || !ag__llm_is_object(L, -1)) /* out, call, fn */
            luaL_error(L, "choices[0].message.tool_calls[%d].function must be an object", (int)(k - 1));
        int fn = lua_gettop(L);
        if (lua_getfield(L, fn, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0) /* out, call, fn, name */
            luaL_error(L, "choices[0].message.tool_calls[%d].function.name must be a non-empty string",
                       (int)(k - 1));
        lua_createtable(L, 0, 3); /* out, call, fn, name, tc */
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "name");
        int t = lua_getfield(L, call, "id"); /* ..., tc, id */
        if (t == LUA_TNIL || ag__llm_is_null(L, -1)) {
            lua_pop(L, 1);
            lua_pushfstring(L, "call_%d", (int)k); /* some local servers leave ids out */
        } else if (t != LUA_TSTRING) {
            luaL_error(L, "choices[0].message.tool_calls[%d].id must be a string", (int)(k - 1));
        }
        lua_setfield(L, -2, "id");
        push_arguments(L, fn, lua_tostring(L, fn + 1)); /* ..., tc, args */
        lua_setfield(L, -2, "arguments");
        lua_rawseti(L, call - 1, k);
        lua_settop(L, call - 1); /* out */
    }
    return n;
}

/* parse(body) -> normalized response; raises a message on a malformed body (run protected). */
static int l_parse(lua_State *L)
{
    luaL_checkstack(L, 24, "reading the response");
    if (!lua_istable(L, 1) || !ag__llm_is_object(L, 1))
        luaL_error(L, "the response is not a JSON object");
    if (lua_getfield(L, 1, "error") != LUA_TNIL && !ag__llm_is_null(L, -1)) { /* 2 */
        if (lua_istable(L, 2) && lua_getfield(L, 2, "message") == LUA_TSTRING)
            luaL_error(L, "the provider answered with an error: %s", lua_tostring(L, -1));
        luaL_error(L, "the provider answered with an error");
    }
    lua_settop(L, 1);
    int t = lua_getfield(L, 1, "choices"); /* 2: choices */
    if (t == LUA_TNIL || ag__llm_is_null(L, 2))
        luaL_error(L, "no choices in the response");
    if (!ag__llm_is_array(L, 2))
        luaL_error(L, "choices must be an array");
    if (lua_rawgeti(L, 2, 1) == LUA_TNIL) /* 3: choice */
        luaL_error(L, "no choices in the response");
    if (!lua_istable(L, 3) || !ag__llm_is_object(L, 3))
        luaL_error(L, "choices[0] must be an object");
    if (lua_getfield(L, 3, "message") != LUA_TTABLE || !ag__llm_is_object(L, 4)) /* 4: message */
        luaL_error(L, "choices[0].message must be an object");

    lua_createtable(L, 0, 5); /* 5: res */
    t = lua_getfield(L, 4, "content");
    if (t == LUA_TNIL || ag__llm_is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else if (t != LUA_TSTRING) {
        luaL_error(L, "choices[0].message.content must be a string or null");
    }
    lua_setfield(L, 5, "text");

    lua_Integer ncalls = 0;
    t = lua_getfield(L, 4, "tool_calls"); /* 6 */
    if (t != LUA_TNIL && !ag__llm_is_null(L, 6)) {
        ncalls = push_tool_calls(L, 6); /* 6, calls */
        if (ncalls > 0)
            lua_setfield(L, 5, "tool_calls");
    }
    lua_settop(L, 5);

    t = lua_getfield(L, 3, "finish_reason");
    if (t == LUA_TNIL || ag__llm_is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushstring(L, ncalls > 0 ? "tool_calls" : "stop");
    } else if (t != LUA_TSTRING) {
        luaL_error(L, "choices[0].finish_reason must be a string");
    }
    lua_setfield(L, 5, "finish_reason");

    t = lua_getfield(L, 1, "usage"); /* 6 */
    if (t != LUA_TNIL && !ag__llm_is_null(L, 6) && (t != LUA_TTABLE || !ag__llm_is_object(L, 6)))
        luaL_error(L, "usage must be an object");
    lua_createtable(L, 0, 2); /* 6: usage, 7: u */
    lua_Integer prompt = 0, completion = 0;
    if (t == LUA_TTABLE) {
        lua_getfield(L, 6, "prompt_tokens");
        prompt = ag__llm_count(L, -1, "usage.prompt_tokens");
        lua_getfield(L, 6, "completion_tokens");
        completion = ag__llm_count(L, -1, "usage.completion_tokens");
        lua_pop(L, 2);
    }
    lua_pushinteger(L, prompt);
    lua_setfield(L, 7, "prompt_tokens");
    lua_pushinteger(L, completion);
    lua_setfield(L, 7, "completion_tokens");
    lua_setfield(L, 5, "usage");
    lua_settop(L, 5);

    if (lua_getfield(L, 1, "model") == LUA_TSTRING)
        lua_setfield(L, 5, "model");
    lua_settop(L, 5);
    return 1;
}

static int parse(lua_State *L, int body, ag_err_t *err)
{
    return ag__llm_parse_protected(L, body, l_parse, err);
}

const ag_llm_provider_t ag_llm_openai = {.name = "openai", .build = build, .parse = parse, .answer = NULL};
