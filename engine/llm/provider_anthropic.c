/*
 * provider_anthropic.c: Anthropic's messages API (POST <base_url>/v1/messages, base_url as in
 * ANTHROPIC_BASE_URL: "https://api.anthropic.com").
 *
 * build: system is a top-level field; every message carries content blocks: user text as a text block, an
 * assistant turn as its text block (when not empty) followed by one tool_use block per tool call, and a run of
 * consecutive tool results as ONE user message of tool_result blocks (the API wants every result of a turn
 * in the message right after it). max_tokens is required by the API: 1024 when the request has none. The
 * API has no JSON mode, so json/schema become an instruction (and the schema text) in the system prompt
 * (ag__llm_push_system).
 *
 * parse: text blocks are concatenated into text, tool_use blocks become tool_calls, other blocks (thinking,
 * ...) are skipped; stop_reason is mapped onto the normalized finish reasons. prompt_tokens counts every
 * input token billed, cached ones included (input_tokens + cache_creation_input_tokens +
 * cache_read_input_tokens). A malformed body raises inside ag__llm_parse_protected: AG_EINVAL, never a raise.
 */
#include <string.h>

#include "provider_int.h"

#define DEFAULT_BASE_URL "https://api.anthropic.com"
#define API_VERSION "2023-06-01"
#define DEFAULT_MAX_TOKENS 1024

/* ---- build ------------------------------------------------------------------------------------------------- */

/* Pushes the content string of the message at m ("" when it has none). */
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

/* Appends {type = "text", text = <string at the top>} to the array at blocks, popping the string. */
static void add_text_block(lua_State *L, int blocks)
{
    lua_createtable(L, 0, 2); /* text, block */
    lua_pushliteral(L, "text");
    lua_setfield(L, -2, "type");
    lua_insert(L, -2);
    lua_setfield(L, -2, "text");
    lua_rawseti(L, blocks, (lua_Integer)lua_rawlen(L, blocks) + 1);
}

/* Appends a tool_use block for each tool call of the assistant message at m to the array at blocks. */
static void add_tool_uses(lua_State *L, int m, int blocks, lua_Integer i)
{
    int t = lua_getfield(L, m, "tool_calls"); /* calls */
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "llm: messages[%d].tool_calls must be an array", (int)i);
    int calls = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, calls);
    for (lua_Integer k = 1; k <= n; k++) {
        if (lua_rawgeti(L, calls, k) != LUA_TTABLE) /* calls, tc */
            luaL_error(L, "llm: messages[%d].tool_calls[%d] must be a table", (int)i, (int)k);
        int tc = lua_gettop(L);
        lua_createtable(L, 0, 4); /* calls, tc, block */
        lua_pushliteral(L, "tool_use");
        lua_setfield(L, -2, "type");
        ag__llm_copy_field(L, tc, -1, "id", LUA_TSTRING);
        ag__llm_copy_field(L, tc, -1, "name", LUA_TSTRING);
        switch (lua_getfield(L, tc, "arguments")) { /* calls, tc, block, args */
        case LUA_TNIL:
            lua_pop(L, 1);
            lua_newtable(L);
            break;
        case LUA_TTABLE:
            break;
        case LUA_TSTRING: { /* JSON text: the API wants the object */
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            ag_llm_json_decode(L, s, len);
            lua_remove(L, -2);
            break;
        }
        default:
            luaL_error(L, "llm: messages[%d].tool_calls[%d].arguments must be a table", (int)i, (int)k);
        }
        lua_setfield(L, -2, "input");
        lua_rawseti(L, blocks, (lua_Integer)lua_rawlen(L, blocks) + 1);
        lua_settop(L, calls);
    }
    lua_pop(L, 1);
}

static void push_messages(lua_State *L, int req)
{
    if (lua_getfield(L, req, "messages") != LUA_TTABLE) /* src */
        luaL_error(L, "llm: messages must be an array");
    int src = lua_gettop(L);
    lua_newtable(L); /* src, msgs */
    int msgs = src + 1;
    lua_Integer len = (lua_Integer)lua_rawlen(L, src), n = 0, results = 0; /* results: the open tool_result message */
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, src, i); /* src, msgs, m */
        int m = lua_gettop(L);
        if (!lua_istable(L, m))
            luaL_error(L, "llm: messages[%d] must be a table", (int)i);
        lua_getfield(L, m, "role");
        const char *role = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(role, "tool") == 0) {
            lua_createtable(L, 0, 3); /* ..., m, role, block */
            lua_pushliteral(L, "tool_result");
            lua_setfield(L, -2, "type");
            lua_getfield(L, m, "tool_call_id");
            if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "llm: messages[%d].tool_call_id must be a string", (int)i);
            lua_setfield(L, -2, "tool_use_id");
            push_content(L, m, i);
            lua_setfield(L, -2, "content");
            if (results == 0) {
                lua_createtable(L, 0, 2); /* ..., block, msg */
                lua_pushliteral(L, "user");
                lua_setfield(L, -2, "role");
                lua_newtable(L);
                lua_setfield(L, -2, "content");
                lua_rawseti(L, msgs, ++n);
                results = n;
            }
            lua_rawgeti(L, msgs, results); /* ..., block, msg */
            lua_getfield(L, -1, "content"); /* ..., block, msg, blocks */
            lua_pushvalue(L, -3);
            lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        } else {
            int user = strcmp(role, "user") == 0;
            if (!user && strcmp(role, "assistant") != 0)
                luaL_error(L, "llm: messages[%d].role must be \"user\", \"assistant\" or \"tool\"", (int)i);
            results = 0;
            lua_createtable(L, 0, 2); /* ..., m, role, msg */
            lua_pushvalue(L, -2);
            lua_setfield(L, -2, "role");
            lua_newtable(L); /* ..., msg, blocks */
            int blocks = lua_gettop(L);
            push_content(L, m, i);
            if (user || lua_rawlen(L, -1) > 0)
                add_text_block(L, blocks);
            else
                lua_pop(L, 1);
            if (!user)
                add_tool_uses(L, m, blocks, i);
            if (lua_rawlen(L, blocks) == 0) { /* an empty assistant turn: keep it expressible */
                lua_pushliteral(L, "");
                add_text_block(L, blocks);
            }
            lua_setfield(L, -2, "content");
            lua_rawseti(L, msgs, ++n);
        }
        lua_settop(L, msgs);
    }
    lua_remove(L, src); /* msgs */
}

/* Pushes the wire tools array, or nothing (returns 0) when the request has none. */
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
        if (lua_rawgeti(L, src, i) != LUA_TTABLE) /* tools, wire, tool */
            luaL_error(L, "llm: tools[%d] must be a table", (int)i);
        int tool = lua_gettop(L);
        lua_createtable(L, 0, 3); /* ..., tool, w */
        ag__llm_copy_field(L, tool, -1, "name", LUA_TSTRING);
        ag__llm_copy_field(L, tool, -1, "description", LUA_TSTRING);
        int pt = lua_getfield(L, tool, "parameters");
        if (pt == LUA_TNIL) {
            lua_pop(L, 1);
            lua_createtable(L, 0, 2); /* input_schema is required: a tool without parameters takes {} */
            lua_pushliteral(L, "object");
            lua_setfield(L, -2, "type");
            lua_newtable(L);
            lua_setfield(L, -2, "properties");
        } else if (pt != LUA_TTABLE) {
            luaL_error(L, "llm: tools[%d].parameters must be a table", (int)i);
        }
        lua_setfield(L, -2, "input_schema");
        lua_rawseti(L, src + 1, i);
        lua_pop(L, 1);
    }
    lua_remove(L, src); /* wire */
    return 1;
}

static void build(lua_State *L, int req, const ag_llm_target_t *t, ag_llm_wire_t *w)
{
    req = lua_absindex(L, req);
    luaL_checkstack(L, 16, "llm: anthropic request");
    if (!lua_istable(L, req))
        luaL_error(L, "llm: the request must be a table");
    lua_createtable(L, 0, 7); /* body */
    int body = lua_gettop(L);
    ag__llm_copy_field(L, req, body, "model", LUA_TSTRING);
    int mt = lua_getfield(L, req, "max_tokens");
    if (mt == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushinteger(L, DEFAULT_MAX_TOKENS);
    } else if (mt != LUA_TNUMBER) {
        luaL_error(L, "llm: max_tokens must be a number");
    }
    lua_setfield(L, body, "max_tokens");
    ag__llm_push_system(L, req);
    lua_setfield(L, body, "system"); /* nil: no field */
    ag__llm_copy_field(L, req, body, "temperature", LUA_TNUMBER);
    push_messages(L, req);
    lua_setfield(L, body, "messages");
    if (push_tools(L, req))
        lua_setfield(L, body, "tools");
    /* Last, so that a raise above leaves w untouched; nothing below raises. */
    const char *key = t ? t->api_key : NULL;
    ag__llm_set_url(L, w, t ? t->base_url : NULL, DEFAULT_BASE_URL, "/v1/messages", key);
    if (key != NULL && *key != '\0')
        ag_llm_wire_header(w, "x-api-key: %s", key);
    ag_llm_wire_header(w, "anthropic-version: %s", API_VERSION);
}

/* ---- parse ------------------------------------------------------------------------------------------------- */

/* Adds the block at b (0-based index k) to the text being built at text or to the tool calls at calls. */
static void read_block(lua_State *L, int b, lua_Integer k, int text, int calls)
{
    if (!lua_istable(L, b) || !ag__llm_is_object(L, b))
        luaL_error(L, "content[%d] must be an object", (int)k);
    if (lua_getfield(L, b, "type") != LUA_TSTRING) /* type */
        luaL_error(L, "content[%d].type must be a string", (int)k);
    const char *type = lua_tostring(L, -1);
    if (strcmp(type, "text") == 0) {
        if (lua_getfield(L, b, "text") != LUA_TSTRING)
            luaL_error(L, "content[%d].text must be a string", (int)k);
        lua_pushvalue(L, text);
        lua_insert(L, -2);
        lua_concat(L, 2);
        lua_replace(L, text);
    } else if (strcmp(type, "tool_use") == 0) {
        lua_createtable(L, 0, 3); /* type, tc */
        if (lua_getfield(L, b, "id") != LUA_TSTRING)
            luaL_error(L, "content[%d].id must be a string", (int)k);
        lua_setfield(L, -2, "id");
        if (lua_getfield(L, b, "name") != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            luaL_error(L, "content[%d].name must be a non-empty string", (int)k);
        lua_setfield(L, -2, "name");
        int t = lua_getfield(L, b, "input");
        if (t == LUA_TNIL || ag__llm_is_null(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);
        } else if (t != LUA_TTABLE || !ag__llm_is_object(L, -1)) {
            luaL_error(L, "invalid tool call arguments: content[%d].input must be an object", (int)k);
        }
        lua_setfield(L, -2, "arguments");
        lua_rawseti(L, calls, (lua_Integer)lua_rawlen(L, calls) + 1);
    } /* other blocks (thinking, redacted_thinking, ...) carry nothing the engine uses */
    lua_pop(L, 1);
}

static const char *const stop_map[][2] = {
    {"end_turn", "stop"}, {"stop_sequence", "stop"}, {"tool_use", "tool_calls"}, {"max_tokens", "length"}};

/* parse(body) -> normalized response; raises a message on a malformed body (run protected). */
static int l_parse(lua_State *L)
{
    luaL_checkstack(L, 24, "reading the response");
    if (!lua_istable(L, 1) || !ag__llm_is_object(L, 1))
        luaL_error(L, "the response is not a JSON object");
    if (lua_getfield(L, 1, "type") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "error") == 0) {
        if (lua_getfield(L, 1, "error") == LUA_TTABLE && lua_getfield(L, -1, "message") == LUA_TSTRING)
            luaL_error(L, "the provider answered with an error: %s", lua_tostring(L, -1));
        luaL_error(L, "the provider answered with an error");
    }
    lua_settop(L, 1);
    int t = lua_getfield(L, 1, "content"); /* 2: content */
    if (t == LUA_TNIL || ag__llm_is_null(L, 2))
        luaL_error(L, "no content in the response");
    if (!ag__llm_is_array(L, 2))
        luaL_error(L, "content must be an array");

    lua_createtable(L, 0, 5); /* 3: res */
    lua_pushliteral(L, "");   /* 4: text */
    lua_newtable(L);          /* 5: calls */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer k = 1; k <= n; k++) {
        lua_rawgeti(L, 2, k); /* 6: block */
        read_block(L, 6, k - 1, 4, 5);
        lua_settop(L, 5);
    }
    lua_Integer ncalls = (lua_Integer)lua_rawlen(L, 5);
    if (ncalls > 0)
        lua_setfield(L, 3, "tool_calls");
    else
        lua_pop(L, 1);
    lua_setfield(L, 3, "text");

    t = lua_getfield(L, 1, "stop_reason"); /* 4 */
    if (t == LUA_TNIL || ag__llm_is_null(L, 4)) {
        lua_pop(L, 1);
        lua_pushstring(L, ncalls > 0 ? "tool_calls" : "stop");
    } else if (t != LUA_TSTRING) {
        luaL_error(L, "stop_reason must be a string");
    } else {
        for (size_t i = 0; i < sizeof(stop_map) / sizeof(stop_map[0]); i++)
            if (strcmp(lua_tostring(L, 4), stop_map[i][0]) == 0) {
                lua_pop(L, 1);
                lua_pushstring(L, stop_map[i][1]);
                break;
            }
    }
    lua_setfield(L, 3, "finish_reason");

    t = lua_getfield(L, 1, "usage"); /* 4 */
    if (t != LUA_TNIL && !ag__llm_is_null(L, 4) && (t != LUA_TTABLE || !ag__llm_is_object(L, 4)))
        luaL_error(L, "usage must be an object");
    lua_Integer prompt = 0, completion = 0;
    if (t == LUA_TTABLE) {
        static const char *const inputs[] = {"input_tokens", "cache_creation_input_tokens",
                                             "cache_read_input_tokens"};
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
            lua_getfield(L, 4, inputs[i]);
            lua_pushfstring(L, "usage.%s", inputs[i]);
            prompt += ag__llm_count(L, -2, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
        lua_getfield(L, 4, "output_tokens");
        completion = ag__llm_count(L, -1, "usage.output_tokens");
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, prompt);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, completion);
    lua_setfield(L, -2, "completion_tokens");
    lua_setfield(L, 3, "usage");
    lua_settop(L, 3);

    if (lua_getfield(L, 1, "model") == LUA_TSTRING)
        lua_setfield(L, 3, "model");
    lua_settop(L, 3);
    return 1;
}

static int parse(lua_State *L, int body, ag_err_t *err)
{
    return ag__llm_parse_protected(L, body, l_parse, err);
}

const ag_llm_provider_t ag_llm_anthropic = {.name = "anthropic", .build = build, .parse = parse, .answer = NULL};
