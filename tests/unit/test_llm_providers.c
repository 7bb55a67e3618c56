/*
 * test_llm_providers.c: the three providers of engine/llm/provider.h on a loader runtime, without a network.
 *
 * build: the exact wire request (URL, headers, JSON body compared after sorting object members, since the
 * encoder writes members in table order); parse: recorded real-world-shaped responses to normalized tables,
 * and malformed bodies to AG_EINVAL with the stack as it was; mock: determinism (also across two states,
 * whose string hashing differs), values that pass the runtime's own schema validator, tool call first.
 * Expected JSON is written with ' for " (none of the texts holds an apostrophe).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../engine/buf.h"
#include "../../engine/json_scan.h"
#include "../../engine/llm/provider.h"
#include "../../engine/lua/runtime.h"

typedef struct fixture_s {
    ag_rt_t *rt;
    lua_State *L;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    ag_err_t err;
    if (ag_rt_new(&fx->rt, &(ag_rt_opts_t){0}, &err) != 0) {
        fprintf(stderr, "ag_rt_new: %s\n", err.msg);
        return -1;
    }
    fx->L = ag_rt_lua(fx->rt);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    ag_rt_free(fx->rt);
    free(fx);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------------------- */

/* Pushes the value `code` returns (Lua source, e.g. "return {...}"). */
static void push_lua(lua_State *L, const char *code)
{
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        fail_msg("lua: %s", lua_tostring(L, -1));
}

/* Runs `code` with r = the value at idx and returns tostring of its result (valid until the next call). The
 * decoder gives floats (6.0): n(x) turns integral ones back into integers for readable expectations. */
static const char *eval(lua_State *L, int idx, const char *code)
{
    static char out[8192];
    idx = lua_absindex(L, idx);
    char src[4096];
    snprintf(src, sizeof(src), "local r = ... local function n(x) return math.tointeger(x) or x end %s", code);
    if (luaL_loadstring(L, src) != LUA_OK)
        fail_msg("lua: %s", lua_tostring(L, -1));
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        fail_msg("lua: %s (in %s)", lua_tostring(L, -1), code);
    snprintf(out, sizeof(out), "%s", luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
    return out;
}

/* The text with every ' turned into ". */
static char *q(const char *s)
{
    char *c = strdup(s);
    for (char *p = c; *p; p++)
        if (*p == '\'')
            *p = '"';
    return c;
}

typedef struct member_s {
    const char *k;
    size_t kl, v;
} member_t;

static int member_cmp(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    size_t n = x->kl < y->kl ? x->kl : y->kl;
    int c = memcmp(x->k, y->k, n);
    return c ? c : (x->kl > y->kl) - (x->kl < y->kl);
}

/* Appends the JSON value at s[i] with object members sorted and whitespace dropped; returns the end index. */
static size_t canon_at(const char *s, size_t i, size_t n, ag_buf_t *out)
{
    i = ag_json_skip_ws(s, i, n);
    assert_true(i < n);
    if (s[i] == '{' || s[i] == '[') {
        char open = s[i], close = open == '{' ? '}' : ']';
        member_t m[64];
        int cnt = 0;
        i = ag_json_skip_ws(s, i + 1, n);
        while (s[i] != close) {
            assert_true(cnt < 64);
            if (open == '{') {
                size_t ks = i;
                i = ag_json_skip_value(s, i, n);
                m[cnt].k = s + ks;
                m[cnt].kl = i - ks;
                i = ag_json_skip_ws(s, i, n);
                assert_int_equal(s[i], ':');
                i = ag_json_skip_ws(s, i + 1, n);
            }
            m[cnt++].v = i;
            i = ag_json_skip_ws(s, ag_json_skip_value(s, i, n), n);
            if (s[i] == ',')
                i = ag_json_skip_ws(s, i + 1, n);
        }
        if (open == '{')
            qsort(m, (size_t)cnt, sizeof(m[0]), member_cmp);
        ag_buf_putc(out, open);
        for (int k = 0; k < cnt; k++) {
            if (k > 0)
                ag_buf_putc(out, ',');
            if (open == '{') {
                ag_buf_put(out, m[k].k, m[k].kl);
                ag_buf_putc(out, ':');
            }
            canon_at(s, m[k].v, n, out);
        }
        ag_buf_putc(out, close);
        return i + 1;
    }
    size_t e = ag_json_skip_value(s, i, n);
    assert_true(e > i);
    ag_buf_put(out, s + i, e - i);
    return e;
}

static char *canon(const char *s)
{
    ag_buf_t b;
    ag_buf_init(&b);
    canon_at(s, 0, strlen(s), &b);
    return ag_buf_steal(&b);
}

/* Asserts that the JSON texts a and b are the same up to member order and whitespace. */
static void assert_json_eq(const char *got, const char *want)
{
    char *g = canon(got), *w = canon(want);
    if (strcmp(g, w) != 0)
        fail_msg("JSON differs\n got: %s\nwant: %s", g, w);
    free(g);
    free(w);
}

/* Builds the request `req_code` returns with provider p; checks the body against want_body (with ' for "),
 * leaves w filled for the caller. */
static void check_build(lua_State *L, const ag_llm_provider_t *p, const ag_llm_target_t *t, const char *req_code,
                        const char *want_body, ag_llm_wire_t *w)
{
    push_lua(L, req_code);
    int top = lua_gettop(L);
    memset(w, 0, sizeof(*w));
    p->build(L, top, t, w);
    assert_int_equal(lua_gettop(L), top + 1);
    ag_llm_json_encode(L, -1);
    char *want = q(want_body);
    assert_json_eq(lua_tostring(L, -1), want);
    free(want);
    lua_pop(L, 3);
}

typedef struct build_call_s {
    const ag_llm_provider_t *p;
    const ag_llm_target_t *t;
    ag_llm_wire_t *w;
} build_call_t;

static int l_build(lua_State *L)
{
    build_call_t *c = lua_touserdata(L, 1);
    c->p->build(L, 2, c->t, c->w);
    return 1;
}

/* Asserts that building the request `req_code` raises an error containing want, and leaves w empty. */
static void check_build_raises(lua_State *L, const ag_llm_provider_t *p, const char *req_code, const char *want)
{
    ag_llm_target_t t = {.name = p->name, .base_url = NULL, .api_key = "sk-secret"};
    ag_llm_wire_t w;
    memset(&w, 0, sizeof(w));
    build_call_t c = {p, &t, &w};
    int top = lua_gettop(L);
    lua_pushcfunction(L, l_build);
    lua_pushlightuserdata(L, &c);
    push_lua(L, req_code);
    assert_int_not_equal(lua_pcall(L, 2, 1, 0), LUA_OK);
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strstr(msg, want) == NULL)
        fail_msg("error %s does not contain %s", msg ? msg : "(none)", want);
    assert_null(strstr(msg, "sk-secret"));
    assert_int_equal(w.nheaders, 0);
    lua_settop(L, top);
}

/* Decodes the JSON text json (with ' for ") and parses it with p; asserts success and leaves the response. */
static void parse_ok(lua_State *L, const ag_llm_provider_t *p, const char *json)
{
    char *text = q(json);
    ag_llm_json_decode(L, text, strlen(text));
    free(text);
    int top = lua_gettop(L);
    ag_err_t err = {0};
    int rc = p->parse(L, top, &err);
    if (rc != 0)
        fail_msg("parse: %s", err.msg);
    assert_int_equal(lua_gettop(L), top + 1);
    lua_remove(L, top); /* the response */
}

/* Asserts that p refuses the JSON text json: AG_EINVAL, a message containing want (when not NULL), the stack
 * unchanged. */
static void parse_bad(lua_State *L, const ag_llm_provider_t *p, const char *json, const char *want)
{
    char *text = q(json);
    ag_llm_json_decode(L, text, strlen(text));
    int top = lua_gettop(L);
    ag_err_t err = {0};
    int rc = p->parse(L, top, &err);
    if (rc != AG_EINVAL)
        fail_msg("%s: %s accepted %s", p->name, rc == 0 ? "parse" : "parse failed but not with AG_EINVAL", text);
    assert_int_equal(lua_gettop(L), top);
    assert_int_equal(err.code, AG_EINVAL);
    assert_true(err.msg[0] != '\0');
    if (want && strstr(err.msg, want) == NULL)
        fail_msg("%s: message \"%s\" does not contain \"%s\"", text, err.msg, want);
    free(text);
    lua_pop(L, 1);
}

/* Pushes the mock's answer to the request `req_code` returns. */
static void mock_answer(lua_State *L, const char *req_code)
{
    push_lua(L, req_code);
    int top = lua_gettop(L);
    ag_llm_mock.answer(L, top);
    assert_int_equal(lua_gettop(L), top + 1);
    lua_remove(L, top);
}

/* ---- the provider table ------------------------------------------------------------------------------------ */

static void test_provider_lookup(void **state)
{
    (void)state;
    assert_ptr_equal(ag_llm_provider("openai"), &ag_llm_openai);
    assert_ptr_equal(ag_llm_provider("anthropic"), &ag_llm_anthropic);
    assert_ptr_equal(ag_llm_provider("mock"), &ag_llm_mock);
    assert_null(ag_llm_provider("gemini"));
    assert_null(ag_llm_provider(NULL));
    assert_non_null(ag_llm_openai.build);
    assert_non_null(ag_llm_openai.parse);
    assert_null(ag_llm_openai.answer);
    assert_non_null(ag_llm_anthropic.build);
    assert_non_null(ag_llm_anthropic.parse);
    assert_null(ag_llm_mock.build);
    assert_null(ag_llm_mock.parse);
    assert_non_null(ag_llm_mock.answer);
}

/* ---- openai: build ----------------------------------------------------------------------------------------- */

static const char *conversation_openai =
    "return { model = 'gpt-4o-mini', system = 'You qualify leads.', temperature = 0.2, max_tokens = 300,"
    "  messages = {"
    "    {role = 'user', content = 'Qualify acme.com'},"
    "    {role = 'assistant', content = '', tool_calls = {{id = 'call_1', name = 'lookup_company',"
    "                                                     arguments = {domain = 'acme.com'}}}},"
    "    {role = 'tool', tool_call_id = 'call_1', name = 'lookup_company', content = '{\"employees\":250}'},"
    "    {role = 'assistant', content = 'Acme looks strong.'},"
    "  },"
    "  tools = {"
    "    {name = 'lookup_company', description = 'Find a company', parameters = {type = 'object', required = "
    "{'domain'}}},"
    "    {name = 'ping'},"
    "  },"
    "}";

static void test_openai_build_conversation(void **state)
{
    fixture_t *fx = *state;
    ag_llm_target_t t = {.name = "openai", .base_url = "https://api.openai.com/v1", .api_key = "sk-test"};
    ag_llm_wire_t w;
    check_build(fx->L, &ag_llm_openai, &t, conversation_openai,
                "{'model':'gpt-4o-mini','temperature':0.2,'max_tokens':300,"
                " 'messages':["
                "  {'role':'system','content':'You qualify leads.'},"
                "  {'role':'user','content':'Qualify acme.com'},"
                "  {'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"
                "   'function':{'name':'lookup_company','arguments':'{\\\"domain\\\":\\\"acme.com\\\"}'}}]},"
                "  {'role':'tool','tool_call_id':'call_1','content':'{\\\"employees\\\":250}'},"
                "  {'role':'assistant','content':'Acme looks strong.'}],"
                " 'tools':["
                "  {'type':'function','function':{'name':'lookup_company','description':'Find a company',"
                "   'parameters':{'type':'object','required':['domain']}}},"
                "  {'type':'function','function':{'name':'ping','parameters':{'type':'object','properties':{}}}}]}",
                &w);
    assert_string_equal(w.url, "https://api.openai.com/v1/chat/completions");
    assert_int_equal(w.nheaders, 1);
    assert_string_equal(w.headers[0], "Authorization: Bearer sk-test");
    ag_llm_wire_free(&w);
    assert_int_equal(w.nheaders, 0);
}

static void test_openai_build_no_key_local_server(void **state)
{
    fixture_t *fx = *state;
    const char *req = "return { model = 'llama3', messages = {{role = 'user', content = 'Hi'}} }";
    const char *want = "{'model':'llama3','messages':[{'role':'user','content':'Hi'}]}";
    /* Ollama, llama.cpp: no key, a base URL with a trailing slash */
    ag_llm_target_t t = {.name = "openai", .base_url = "http://127.0.0.1:11434/v1/", .api_key = NULL};
    ag_llm_wire_t w;
    check_build(fx->L, &ag_llm_openai, &t, req, want, &w);
    assert_string_equal(w.url, "http://127.0.0.1:11434/v1/chat/completions");
    assert_int_equal(w.nheaders, 0);
    ag_llm_wire_free(&w);
    t.api_key = ""; /* set but empty: still no header */
    check_build(fx->L, &ag_llm_openai, &t, req, want, &w);
    assert_int_equal(w.nheaders, 0);
    ag_llm_wire_free(&w);
    /* no base URL at all: OpenAI's */
    t.base_url = NULL;
    check_build(fx->L, &ag_llm_openai, &t, req, want, &w);
    assert_string_equal(w.url, "https://api.openai.com/v1/chat/completions");
    ag_llm_wire_free(&w);
}

static void test_openai_build_json_mode(void **state)
{
    fixture_t *fx = *state;
    ag_llm_target_t t = {.name = "openai", .base_url = "https://openrouter.ai/api/v1", .api_key = "k"};
    ag_llm_wire_t w;
    check_build(fx->L, &ag_llm_openai, &t,
                "return { model = 'm', system = 'Be brief.', json = true, messages = {{role = 'user', content = "
                "'x'}} }",
                "{'model':'m','response_format':{'type':'json_object'},'messages':["
                " {'role':'system','content':'Be brief.\\n\\nRespond with one JSON object only, with no other text "
                "and no code fences.'},"
                " {'role':'user','content':'x'}]}",
                &w);
    assert_string_equal(w.url, "https://openrouter.ai/api/v1/chat/completions");
    ag_llm_wire_free(&w);
    /* a schema implies JSON mode, and the schema reaches the model as text */
    check_build(fx->L, &ag_llm_openai, &t,
                "return { model = 'm', schema = {type = 'object'}, messages = {{role = 'user', content = 'x'}} }",
                "{'model':'m','response_format':{'type':'json_object'},'messages':["
                " {'role':'system','content':'Respond with one JSON object only, with no other text and no code "
                "fences. It must satisfy this JSON schema: {\\\"type\\\":\\\"object\\\"}'},"
                " {'role':'user','content':'x'}]}",
                &w);
    ag_llm_wire_free(&w);
    /* json = false is no JSON mode */
    check_build(fx->L, &ag_llm_openai, &t,
                "return { model = 'm', json = false, messages = {{role = 'user', content = 'x'}} }",
                "{'model':'m','messages':[{'role':'user','content':'x'}]}", &w);
    ag_llm_wire_free(&w);
}

static void test_openai_build_refuses_bad_requests(void **state)
{
    fixture_t *fx = *state;
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm' }", "messages must be an array");
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm', messages = {{role = 'system', content = 'x'}} }",
                       "role must be");
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm', messages = {'hello'} }",
                       "messages[1] must be a table");
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm', messages = {{role = 'user', content = 5}} }",
                       "content must be a string");
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm', temperature = 'hot', messages = {} }",
                       "temperature must be a number");
    check_build_raises(fx->L, &ag_llm_openai, "return { model = 'm', tools = 'all', messages = {} }",
                       "tools must be an array");
    check_build_raises(fx->L, &ag_llm_openai, "return 'not a table'", "request must be a table");
    /* a key that would split the header: refused without showing it */
    fixture_t *f = fx;
    ag_llm_target_t t = {.name = "openai", .base_url = NULL, .api_key = "sk-secret\r\nX-Evil: 1"};
    ag_llm_wire_t w;
    memset(&w, 0, sizeof(w));
    build_call_t c = {&ag_llm_openai, &t, &w};
    lua_pushcfunction(f->L, l_build);
    lua_pushlightuserdata(f->L, &c);
    push_lua(f->L, "return { model = 'm', messages = {} }");
    assert_int_not_equal(lua_pcall(f->L, 2, 1, 0), LUA_OK);
    assert_non_null(strstr(lua_tostring(f->L, -1), "control character"));
    assert_null(strstr(lua_tostring(f->L, -1), "sk-secret"));
    assert_int_equal(w.nheaders, 0);
    lua_pop(f->L, 1);
    assert_int_equal(lua_gettop(f->L), 0);
}

/* ---- openai: parse ----------------------------------------------------------------------------------------- */

static void test_openai_parse_text(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    parse_ok(L, &ag_llm_openai,
             "{'id':'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT','object':'chat.completion','created':1741569952,"
             " 'model':'gpt-4o-2024-08-06',"
             " 'choices':[{'index':0,'message':{'role':'assistant','content':'Hello! How can I assist you today?',"
             "   'refusal':null,'annotations':[]},'logprobs':null,'finish_reason':'stop'}],"
             " 'usage':{'prompt_tokens':19,'completion_tokens':10,'total_tokens':29,"
             "   'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':0},"
             "   'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0,"
             "     'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}},"
             " 'service_tier':'default','system_fingerprint':'fp_fc9f1d7035'}");
    assert_string_equal(eval(L, -1, "return r.text"), "Hello! How can I assist you today?");
    assert_string_equal(eval(L, -1, "return r.tool_calls"), "nil");
    assert_string_equal(eval(L, -1, "return r.usage.prompt_tokens .. '/' .. r.usage.completion_tokens"), "19/10");
    assert_string_equal(eval(L, -1, "return math.type(r.usage.prompt_tokens)"), "integer");
    assert_string_equal(eval(L, -1, "return r.model"), "gpt-4o-2024-08-06");
    assert_string_equal(eval(L, -1, "return r.finish_reason"), "stop");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_openai_parse_tool_calls_null_content(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    parse_ok(L, &ag_llm_openai,
             "{'id':'chatcmpl-abc123','object':'chat.completion','created':1699896916,'model':'gpt-4o-mini',"
             " 'choices':[{'index':0,'message':{'role':'assistant','content':null,'tool_calls':["
             "   {'id':'call_abc123','type':'function','function':{'name':'lookup_company',"
             "     'arguments':'{\\n\\\"domain\\\": \\\"acme.com\\\", \\\"limit\\\": 3,"
             " \\\"tags\\\": [\\\"a\\\"]\\n}'}},"
             "   {'id':'call_def456','type':'function','function':{'name':'ping','arguments':'{}'}}],"
             "   'refusal':null},'logprobs':null,'finish_reason':'tool_calls'}],"
             " 'usage':{'prompt_tokens':82,'completion_tokens':17,'total_tokens':99}}");
    assert_string_equal(eval(L, -1, "return r.text"), "");
    assert_string_equal(eval(L, -1, "return #r.tool_calls"), "2");
    assert_string_equal(eval(L, -1, "local c = r.tool_calls[1] return c.id .. ' ' .. c.name"),
                        "call_abc123 lookup_company");
    assert_string_equal(eval(L, -1, "local a = r.tool_calls[1].arguments return a.domain .. n(a.limit) .. a.tags[1]"),
                        "acme.com3a");
    assert_string_equal(eval(L, -1, "local a = r.tool_calls[2].arguments return type(a) .. tostring(next(a))"),
                        "tablenil");
    assert_string_equal(eval(L, -1, "return r.finish_reason .. ' ' .. r.usage.prompt_tokens"), "tool_calls 82");
    lua_pop(L, 1);
}

static void test_openai_parse_lenient_shapes(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    /* no usage, no model, no finish_reason, arguments already an object, "" arguments, no id (local servers) */
    parse_ok(L, &ag_llm_openai,
             "{'choices':[{'message':{'role':'assistant','content':'ok','tool_calls':["
             "  {'function':{'name':'a','arguments':{'x':1}}},"
             "  {'function':{'name':'b','arguments':''}}]}}]}");
    assert_string_equal(eval(L, -1, "return r.usage.prompt_tokens .. '/' .. r.usage.completion_tokens"), "0/0");
    assert_string_equal(eval(L, -1, "return r.model"), "nil");
    assert_string_equal(eval(L, -1, "return r.finish_reason"), "tool_calls");
    assert_string_equal(eval(L, -1, "return r.text"), "ok");
    assert_string_equal(eval(L, -1, "return r.tool_calls[1].id .. ' ' .. r.tool_calls[2].id"), "call_1 call_2");
    assert_string_equal(eval(L, -1, "return n(r.tool_calls[1].arguments.x)"), "1");
    assert_string_equal(eval(L, -1, "return type(r.tool_calls[2].arguments) .. tostring(next(r.tool_calls[2]."
                                    "arguments))"),
                        "tablenil");
    lua_pop(L, 1);
    /* usage null, finish_reason null, a length stop */
    parse_ok(L, &ag_llm_openai,
             "{'choices':[{'message':{'content':'cut'},'finish_reason':'length'}],'usage':null,'model':'x'}");
    assert_string_equal(eval(L, -1, "return r.finish_reason .. r.usage.prompt_tokens .. r.model"), "length0x");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_openai_parse_malformed(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    static const char *const bad[][2] = {
        {"{}", "no choices"},
        {"[]", "no choices"},
        {"[1,2]", "not a JSON object"},
        {"null", "not a JSON object"},
        {"42", "not a JSON object"},
        {"'choices'", "not a JSON object"},
        {"true", "not a JSON object"},
        {"{'choices':null}", "no choices"},
        {"{'choices':[]}", "no choices"},
        {"{'choices':'many'}", "choices must be an array"},
        {"{'choices':{'0':{'message':{'content':'x'}}}}", "choices must be an array"},
        {"{'choices':[1]}", "choices[0] must be an object"},
        {"{'choices':[[1]]}", "choices[0] must be an object"},
        {"{'choices':[{}]}", "choices[0].message must be an object"},
        {"{'choices':[{'message':null}]}", "choices[0].message must be an object"},
        {"{'choices':[{'message':'hi'}]}", "choices[0].message must be an object"},
        {"{'choices':[{'message':[1,2]}]}", "choices[0].message must be an object"},
        {"{'choices':[{'message':{'content':42}}]}", "content must be a string or null"},
        {"{'choices':[{'message':{'content':{'text':'x'}}}]}", "content must be a string or null"},
        {"{'choices':[{'message':{'content':false}}]}", "content must be a string or null"},
        {"{'choices':[{'message':{'content':'x','tool_calls':{'a':1}}}]}", "tool_calls must be an array"},
        {"{'choices':[{'message':{'content':'x','tool_calls':'call'}}]}", "tool_calls must be an array"},
        {"{'choices':[{'message':{'content':'x','tool_calls':[7]}}]}", "tool_calls[0] must be an object"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c'}]}}]}", "tool_calls[0].function must be an object"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':[]}]}}]}", "function.name"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'arguments':'{}'}}]}}]}", "function.name"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':5}}]}}]}", "function.name"},
        {"{'choices':[{'message':{'tool_calls':[{'id':7,'function':{'name':'f'}}]}}]}", "tool_calls[0].id"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':'f','arguments':'{not json'}}]}}]}",
         "invalid tool call arguments"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':'f','arguments':'[1,2]'}}]}}]}",
         "invalid tool call arguments"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':'f','arguments':'42'}}]}}]}",
         "invalid tool call arguments"},
        {"{'choices':[{'message':{'tool_calls':[{'id':'c','function':{'name':'f','arguments':7}}]}}]}",
         "invalid tool call arguments"},
        {"{'choices':[{'message':{'content':'x'},'finish_reason':5}]}", "finish_reason must be a string"},
        {"{'choices':[{'message':{'content':'x'}}],'usage':'lots'}", "usage must be an object"},
        {"{'choices':[{'message':{'content':'x'}}],'usage':[1]}", "usage must be an object"},
        {"{'choices':[{'message':{'content':'x'}}],'usage':{'prompt_tokens':'12'}}", "usage.prompt_tokens"},
        {"{'choices':[{'message':{'content':'x'}}],'usage':{'completion_tokens':-1}}", "usage.completion_tokens"},
        {"{'error':{'message':'The server is overloaded','type':'server_error'}}", "The server is overloaded"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(L, &ag_llm_openai, bad[i][0], bad[i][1]);
    assert_int_equal(lua_gettop(L), 0);
}

/* ---- anthropic --------------------------------------------------------------------------------------------- */

static const char *conversation_anthropic =
    "return { model = 'claude-sonnet-4-5', system = 'You qualify leads.', temperature = 0,"
    "  messages = {"
    "    {role = 'user', content = 'Qualify acme.com'},"
    "    {role = 'assistant', content = 'Looking it up.', tool_calls = {"
    "       {id = 'toolu_1', name = 'lookup_company', arguments = {domain = 'acme.com'}},"
    "       {id = 'toolu_2', name = 'news', arguments = {}}}},"
    "    {role = 'tool', tool_call_id = 'toolu_1', content = '{\"employees\":250}'},"
    "    {role = 'tool', tool_call_id = 'toolu_2', content = 'no news'},"
    "    {role = 'user', content = 'And the budget?'},"
    "    {role = 'assistant', content = '', tool_calls = {{id = 'toolu_3', name = 'budget'}}},"
    "    {role = 'tool', tool_call_id = 'toolu_3', content = '50000'},"
    "  },"
    "  tools = {{name = 'lookup_company', description = 'Find a company', parameters = {type = 'object'}},"
    "           {name = 'news'}},"
    "}";

static void test_anthropic_build_conversation(void **state)
{
    fixture_t *fx = *state;
    ag_llm_target_t t = {.name = "anthropic", .base_url = "https://api.anthropic.com", .api_key = "sk-ant-test"};
    ag_llm_wire_t w;
    check_build(
        fx->L, &ag_llm_anthropic, &t, conversation_anthropic,
        "{'model':'claude-sonnet-4-5','max_tokens':1024,'system':'You qualify leads.','temperature':0,"
        " 'messages':["
        "  {'role':'user','content':[{'type':'text','text':'Qualify acme.com'}]},"
        "  {'role':'assistant','content':[{'type':'text','text':'Looking it up.'},"
        "    {'type':'tool_use','id':'toolu_1','name':'lookup_company','input':{'domain':'acme.com'}},"
        "    {'type':'tool_use','id':'toolu_2','name':'news','input':{}}]},"
        "  {'role':'user','content':["
        "    {'type':'tool_result','tool_use_id':'toolu_1','content':'{\\\"employees\\\":250}'},"
        "    {'type':'tool_result','tool_use_id':'toolu_2','content':'no news'}]},"
        "  {'role':'user','content':[{'type':'text','text':'And the budget?'}]},"
        "  {'role':'assistant','content':[{'type':'tool_use','id':'toolu_3','name':'budget','input':{}}]},"
        "  {'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_3','content':'50000'}]}],"
        " 'tools':[{'name':'lookup_company','description':'Find a company','input_schema':{'type':'object'}},"
        "  {'name':'news','input_schema':{'type':'object','properties':{}}}]}",
        &w);
    assert_string_equal(w.url, "https://api.anthropic.com/v1/messages");
    assert_int_equal(w.nheaders, 2);
    assert_string_equal(w.headers[0], "x-api-key: sk-ant-test");
    assert_string_equal(w.headers[1], "anthropic-version: 2023-06-01");
    ag_llm_wire_free(&w);
}

static void test_anthropic_build_json_no_key(void **state)
{
    fixture_t *fx = *state;
    ag_llm_target_t t = {.name = "anthropic", .base_url = "http://127.0.0.1:9099/", .api_key = NULL};
    ag_llm_wire_t w;
    check_build(fx->L, &ag_llm_anthropic, &t,
                "return { model = 'c', max_tokens = 50, json = true, system = 'Score it.',"
                "         messages = {{role = 'user', content = 'lead'}} }",
                "{'model':'c','max_tokens':50,"
                " 'system':'Score it.\\n\\nRespond with one JSON object only, with no other text and no code fences.',"
                " 'messages':[{'role':'user','content':[{'type':'text','text':'lead'}]}]}",
                &w);
    assert_string_equal(w.url, "http://127.0.0.1:9099/v1/messages");
    assert_int_equal(w.nheaders, 1);
    assert_string_equal(w.headers[0], "anthropic-version: 2023-06-01");
    ag_llm_wire_free(&w);
    /* schema, no system: the instruction is the system prompt; default base URL */
    t.base_url = NULL;
    t.api_key = "";
    check_build(fx->L, &ag_llm_anthropic, &t,
                "return { model = 'c', schema = {type = 'object'}, messages = {{role = 'user', content = 'lead'}} }",
                "{'model':'c','max_tokens':1024,"
                " 'system':'Respond with one JSON object only, with no other text and no code fences. It must "
                "satisfy this JSON schema: {\\\"type\\\":\\\"object\\\"}',"
                " 'messages':[{'role':'user','content':[{'type':'text','text':'lead'}]}]}",
                &w);
    assert_string_equal(w.url, "https://api.anthropic.com/v1/messages");
    assert_int_equal(w.nheaders, 1);
    ag_llm_wire_free(&w);
    check_build_raises(fx->L, &ag_llm_anthropic, "return { model = 'c', messages = {{role = 'robot'}} }",
                       "role must be");
    check_build_raises(fx->L, &ag_llm_anthropic, "return { model = 'c', max_tokens = 'lots', messages = {} }",
                       "max_tokens must be a number");
    check_build_raises(fx->L, &ag_llm_anthropic,
                       "return { model = 'c', messages = {{role = 'assistant', tool_calls = {{id = 'x', name = 'f',"
                       " arguments = true}}}} }",
                       "arguments must be a table");
    assert_int_equal(lua_gettop(fx->L), 0);
}

static void test_anthropic_parse_text_and_tool_use(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    parse_ok(L, &ag_llm_anthropic,
             "{'id':'msg_01Aq9w938a90dw8q','type':'message','role':'assistant','model':'claude-sonnet-4-5-20250929',"
             " 'content':[{'type':'text','text':'I will look up the company.'},"
             "   {'type':'tool_use','id':'toolu_01A09q90qw90lq917835lq9','name':'lookup_company',"
             "    'input':{'domain':'acme.com','limit':3}}],"
             " 'stop_reason':'tool_use','stop_sequence':null,"
             " 'usage':{'input_tokens':412,'cache_creation_input_tokens':0,'cache_read_input_tokens':100,"
             "   'output_tokens':58,'service_tier':'standard'}}");
    assert_string_equal(eval(L, -1, "return r.text"), "I will look up the company.");
    assert_string_equal(eval(L, -1, "local c = r.tool_calls[1] return #r.tool_calls .. c.id .. c.name"),
                        "1toolu_01A09q90qw90lq917835lq9lookup_company");
    assert_string_equal(eval(L, -1, "return r.tool_calls[1].arguments.domain .. n(r.tool_calls[1].arguments.limit)"),
                        "acme.com3");
    assert_string_equal(eval(L, -1, "return r.finish_reason"), "tool_calls");
    assert_string_equal(eval(L, -1, "return r.usage.prompt_tokens .. '/' .. r.usage.completion_tokens"), "512/58");
    assert_string_equal(eval(L, -1, "return r.model"), "claude-sonnet-4-5-20250929");
    lua_pop(L, 1);
    /* several text blocks joined, a thinking block skipped; stop reasons mapped */
    static const char *const stops[][2] = {{"end_turn", "stop"},     {"max_tokens", "length"},
                                           {"stop_sequence", "stop"}, {"tool_use", "tool_calls"},
                                           {"refusal", "refusal"},    {"pause_turn", "pause_turn"}};
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{'type':'message','content':[{'type':'thinking','thinking':'hmm','signature':'abc'},"
                 "{'type':'text','text':'Hello, '},{'type':'text','text':'world.'}],'stop_reason':'%s',"
                 "'usage':{'input_tokens':5,'output_tokens':2}}",
                 stops[i][0]);
        parse_ok(L, &ag_llm_anthropic, json);
        assert_string_equal(eval(L, -1, "return r.text"), "Hello, world.");
        assert_string_equal(eval(L, -1, "return r.finish_reason"), stops[i][1]);
        assert_string_equal(eval(L, -1, "return tostring(r.tool_calls) .. tostring(r.model)"), "nilnil");
        lua_pop(L, 1);
    }
    /* empty content, no usage */
    parse_ok(L, &ag_llm_anthropic, "{'content':[],'stop_reason':'end_turn'}");
    assert_string_equal(eval(L, -1, "return '[' .. r.text .. ']' .. r.usage.prompt_tokens"), "[]0");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_anthropic_parse_malformed(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    static const char *const bad[][2] = {
        {"{}", "no content"},
        {"[]", "no content"},
        {"['content']", "not a JSON object"},
        {"null", "not a JSON object"},
        {"3.5", "not a JSON object"},
        {"{'content':null}", "no content"},
        {"{'content':'Hello'}", "content must be an array"},
        {"{'content':{'type':'text','text':'x'}}", "content must be an array"},
        {"{'content':[5]}", "content[0] must be an object"},
        {"{'content':[[]]}", "content[0].type"},
        {"{'content':[{'text':'x'}]}", "content[0].type"},
        {"{'content':[{'type':5}]}", "content[0].type"},
        {"{'content':[{'type':'text','text':'a'},{'type':'text','text':7}]}", "content[1].text"},
        {"{'content':[{'type':'text'}]}", "content[0].text"},
        {"{'content':[{'type':'tool_use','name':'f','input':{}}]}", "content[0].id"},
        {"{'content':[{'type':'tool_use','id':'t','input':{}}]}", "content[0].name"},
        {"{'content':[{'type':'tool_use','id':'t','name':'f','input':[1]}]}", "invalid tool call arguments"},
        {"{'content':[{'type':'tool_use','id':'t','name':'f','input':'{}'}]}", "invalid tool call arguments"},
        {"{'content':[],'stop_reason':3}", "stop_reason must be a string"},
        {"{'content':[],'usage':'x'}", "usage must be an object"},
        {"{'content':[],'usage':{'output_tokens':'x'}}", "usage.output_tokens"},
        {"{'content':[],'usage':{'input_tokens':1e300}}", "usage.input_tokens"},
        {"{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}", "Overloaded"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(L, &ag_llm_anthropic, bad[i][0], bad[i][1]);
    assert_int_equal(lua_gettop(L), 0);
}

/* ---- mock -------------------------------------------------------------------------------------------------- */

static void test_mock_text_is_deterministic(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    const char *req = "return { model = 'gpt-4o-mini', system = 'Be helpful.', messages = {"
                      "  {role = 'user', content = 'first question'},"
                      "  {role = 'assistant', content = 'an answer'},"
                      "  {role = 'user', content = 'Hello there,\\nhow are you?'}} }";
    mock_answer(L, req);
    assert_string_equal(eval(L, -1, "return r.text"), "[mock] Acknowledged: Hello there, how are you?");
    assert_string_equal(eval(L, -1, "return r.model .. ' ' .. r.finish_reason .. ' ' .. tostring(r.tool_calls)"),
                        "gpt-4o-mini stop nil");
    /* 11 + 14 + 9 + 25 = 59 characters: 14 tokens; 46 characters of text: 11 */
    assert_string_equal(eval(L, -1, "return r.usage.prompt_tokens .. '/' .. r.usage.completion_tokens"), "14/11");
    mock_answer(L, req);
    assert_string_equal(eval(L, -1, "return r.text"), "[mock] Acknowledged: Hello there, how are you?");
    lua_pop(L, 2);
    /* long messages are cut at a character boundary; no model: "mock"; no user message */
    mock_answer(L, "return { messages = {{role = 'user', content = string.rep('\\u{e9}', 100)}} }");
    assert_string_equal(eval(L, -1, "return utf8.len(r.text) ~= nil and #r.text <= 21 + 80 + 3"), "true");
    assert_string_equal(eval(L, -1, "return r.model"), "mock");
    lua_pop(L, 1);
    mock_answer(L, "return { messages = {} }");
    assert_string_equal(eval(L, -1, "return r.text .. r.usage.prompt_tokens .. r.usage.completion_tokens"),
                        "[mock] Acknowledged.15");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_mock_json_mode(void **state)
{
    lua_State *L = ((fixture_t *)*state)->L;
    mock_answer(L, "return { json = true, messages = {{role = 'user', content = 'Summarize \"Q3\"'}} }");
    assert_string_equal(eval(L, -1, "return r.text"), "{\"answer\":\"Mock answer to: Summarize \\\"Q3\\\"\"}");
    lua_getfield(L, -1, "text");
    ag_llm_json_decode(L, lua_tostring(L, -1), lua_rawlen(L, -1));
    assert_string_equal(eval(L, -1, "return r.answer"), "Mock answer to: Summarize \"Q3\"");
    lua_pop(L, 3);
}

/* Generates a value for the schema `schema_code` returns, decodes it, validates it with the runtime's validator
 * and returns the JSON text (owned by the caller); leaves the decoded value on the stack. */
static char *mock_schema_value(fixture_t *fx, const char *schema_code, const char *user)
{
    lua_State *L = fx->L;
    char req[4096];
    snprintf(req, sizeof(req), "local s = (function() %s end)() return { model = 'm', schema = s, messages = {"
             "{role = 'user', content = '%s'}} }", schema_code, user);
    mock_answer(L, req); /* res */
    assert_string_equal(eval(L, -1, "return r.finish_reason"), "stop");
    lua_getfield(L, -1, "text"); /* res, text */
    char *text = strdup(lua_tostring(L, -1));
    ag_llm_json_decode(L, text, strlen(text)); /* res, text, value */
    push_lua(L, req);                          /* res, text, value, req */
    lua_getfield(L, -1, "schema");             /* ..., req, schema */
    ag_rt_push_validation(fx->rt, -1, -3);     /* ..., req, schema, errors */
    if (lua_rawlen(L, -1) != 0)
        fail_msg("%s does not satisfy the schema: %s: %s", text, eval(L, -1, "return r[1].field"),
                 eval(L, -1, "return r[1].message"));
    lua_pop(L, 3);     /* res, text, value */
    lua_replace(L, -3); /* value, text */
    lua_pop(L, 1);
    return text;
}

static char *read_source(const char *rel)
{
    const char *root = getenv("AG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s (set AG_SOURCE_DIR)", path);
    ag_buf_t b;
    ag_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ag_buf_put(&b, chunk, n);
    fclose(f);
    return ag_buf_steal(&b);
}

static void test_mock_schema_qualify_lead(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    char *src = read_source("domains/sales/tasks/qualify_lead.lua");
    ag_buf_t code;
    ag_buf_init(&code);
    ag_buf_puts(&code, "local t = (function() ");
    ag_buf_puts(&code, src);
    ag_buf_puts(&code, " end)() return t.input");
    free(src);
    char *text = mock_schema_value(fx, code.data, "Qualify this lead");
    assert_string_equal(eval(L, -1, "return r.email"), "alex.morgan@example.com");
    assert_string_equal(eval(L, -1, "return r.company"), "Northwind Studio");
    assert_string_equal(eval(L, -1, "return r.name"), "Alex Morgan");
    assert_string_equal(eval(L, -1, "return n(r.budget)"), "25000");
    assert_string_equal(eval(L, -1, "return n(r.timeline_days)"), "30");
    assert_string_equal(eval(L, -1, "return r.notes"), "This is a deterministic mock notes, generated offline.");
    assert_string_equal(eval(L, -1, "return r.source"), "mock source");
    lua_pop(L, 1);
    /* the same request in another state (other string hashing, other table order): the same text */
    ag_rt_t *rt2;
    ag_err_t err;
    assert_int_equal(ag_rt_new(&rt2, &(ag_rt_opts_t){0}, &err), 0);
    fixture_t fx2 = {rt2, ag_rt_lua(rt2)};
    char *text2 = mock_schema_value(&fx2, code.data, "Qualify this lead");
    assert_string_equal(text, text2);
    lua_pop(fx2.L, 1);
    ag_rt_free(rt2);
    free(text2);
    /* another user message: another seed, still valid (enum picks may differ) */
    free(mock_schema_value(fx, code.data, "Another lead entirely"));
    lua_pop(L, 1);
    free(text);
    ag_buf_free(&code);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_mock_schema_nested(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    const char *schema =
        "return { type = 'object', required = {'lead', 'scores', 'tags', 'reason'}, properties = {"
        "  lead = { type = 'object', required = {'name'}, properties = {"
        "    name = { type = 'string', minLength = 1 }, website = { type = 'string', format = 'uri' },"
        "    founded = { type = 'string', format = 'date' }, updated_at = { type = 'string', format = 'date-time' },"
        "    phone = { type = 'string' }, contact = { type = 'object', properties = {"
        "      email = { type = 'string', format = 'email' }, first_name = { type = 'string' } } } } },"
        "  scores = { type = 'array', minItems = 3, maxItems = 5, items = { type = 'object',"
        "    required = {'score', 'label'}, additionalProperties = false, properties = {"
        "      score = { type = 'number', minimum = 0, maximum = 1 },"
        "      label = { type = 'string', enum = {'hot', 'warm', 'cold'} } } } },"
        "  tags = { type = 'array', maxItems = 0, items = { type = 'string' } },"
        "  matrix = { type = 'array', items = { type = 'array', minItems = 1, items = { type = 'integer',"
        "    minimum = 7, maximum = 7 } } },"
        "  reason = { type = 'string', maxLength = 200 } } }";
    char *text = mock_schema_value(fx, schema, "nested");
    assert_string_equal(eval(L, -1, "return r.lead.name .. '|' .. r.lead.website .. '|' .. r.lead.founded .. '|' .."
                                    " r.lead.updated_at .. '|' .. r.lead.contact.email .. '|' .. r.lead.contact."
                                    "first_name"),
                        "Alex Morgan|https://northwind.example.com|2026-01-15|2026-01-15T09:30:00Z|"
                        "alex.morgan@example.com|Alex");
    assert_string_equal(eval(L, -1, "return #r.scores .. ' ' .. r.scores[1].score .. ' ' .. #r.tags .. ' ' .. "
                                    "#r.matrix .. ' ' .. n(r.matrix[2][1])"),
                        "3 0.72 0 2 7");
    assert_string_equal(eval(L, -1, "return r.reason"), "This is a deterministic mock reason, generated offline.");
    /* the empty array is written as [] (the text is what the engine decodes and journals) */
    assert_non_null(strstr(text, "\"tags\":[]"));
    /* members in sorted order at every level */
    assert_non_null(strstr(text, "{\"lead\":{\"contact\":{\"email\""));
    lua_pop(L, 1);
    free(text);
}

static void test_mock_schema_bounds_and_types(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    const char *schema =
        "return { type = 'object', properties = {"
        "  a = { type = 'integer', exclusiveMinimum = 5, exclusiveMaximum = 7 },"
        "  b = { type = 'number', exclusiveMinimum = 0, exclusiveMaximum = 0.001 },"
        "  c = { type = 'integer', minimum = -20, maximum = -10 },"
        "  price = { type = 'number', minimum = 10, maximum = 500 },"
        "  budget = { type = 'integer', minimum = 100000 },"
        "  rating = { type = 'integer', minimum = 1, maximum = 5 },"
        "  probability = { type = 'number', minimum = 0, maximum = 1 },"
        "  confidence = { type = 'number', exclusiveMaximum = 0.5 },"
        "  short = { type = 'string', minLength = 3, maxLength = 4 },"
        "  long = { type = 'string', minLength = 40 },"
        "  summary = { type = 'string', maxLength = 10 },"
        "  none = { type = 'string', maxLength = 0 },"
        "  flag = { type = 'boolean' },"
        "  nothing = { type = 'null' },"
        "  nullable = { type = {'null', 'integer'}, maximum = -3 },"
        "  k = { const = 'fixed' },"
        "  e = { enum = {1, 2, 3} },"
        "  untyped_count = { minimum = 3, maximum = 3 },"
        "  any = {},"
        "  contact_email = { type = 'string' },"
        "  lead_id = { type = 'string' },"
        "  big = { type = 'integer', minimum = 1e15 },"
        "  neg = { type = 'number', maximum = -1000.5 } } }";
    char *text = mock_schema_value(fx, schema, "bounds");
    assert_string_equal(eval(L, -1, "return n(r.a) .. ' ' .. n(r.c) .. ' ' .. n(r.price) .. ' ' .. n(r.budget) .. ' ' "
                                    ".. n(r.rating) .. ' ' .. r.probability .. ' ' .. n(r.nullable) .. ' ' .. "
                                    "n(r.untyped_count)"),
                        "6 -15 300 150000 4 0.8 -10 3");
    assert_string_equal(eval(L, -1, "return r.short .. '|' .. #r.long .. '|' .. r.summary .. '|' .. r.none .. '|' "
                                    ".. tostring(r.flag) .. '|' .. r.k .. '|' .. r.any .. '|' .. r.contact_email"),
                        "mock|40|This is a ||true|fixed|mock any|alex.morgan@example.com");
    assert_string_equal(eval(L, -1, "return r.b > 0 and r.b < 0.001 and r.confidence < 0.5 and r.big >= 1e15 and "
                                    "r.neg <= -1000.5"),
                        "true");
    assert_string_equal(eval(L, -1, "return r.lead_id:match('^mock%-%x+$') ~= nil"), "true");
    assert_non_null(strstr(text, "\"nothing\":null"));
    lua_pop(L, 1);
    free(text);
    /* roots that are not objects */
    free(mock_schema_value(fx, "return { type = 'array', minItems = 1, items = { type = 'string', enum = {'x', 'y'}"
                               " } }",
                           "root array"));
    assert_string_equal(eval(L, -1, "return #r"), "2");
    lua_pop(L, 1);
    text = mock_schema_value(fx, "return { type = 'string', format = 'email' }", "root string");
    assert_string_equal(text, "\"alex.morgan@example.com\"");
    lua_pop(L, 1);
    free(text);
    text = mock_schema_value(fx, "return { type = 'integer' }", "root integer");
    assert_string_equal(text, "42");
    lua_pop(L, 1);
    free(text);
    /* required names without properties; a schema that contains itself stops at a depth */
    free(mock_schema_value(fx, "return { type = 'object', required = {'reason', 'contact_email'} }", "req"));
    assert_string_equal(eval(L, -1, "return r.contact_email"), "alex.morgan@example.com");
    lua_pop(L, 1);
    /* (not validated: the validator refuses a schema that contains itself) */
    mock_answer(L, "local s = { type = 'object', properties = {} } s.properties.child = s "
                   "return { schema = s, messages = {} }");
    lua_getfield(L, -1, "text");
    ag_llm_json_decode(L, lua_tostring(L, -1), lua_rawlen(L, -1));
    assert_string_equal(eval(L, -1, "local d = 0 while r.child do r = r.child d = d + 1 end return d"), "33");
    lua_pop(L, 3);
    assert_int_equal(lua_gettop(L), 0);
}

static void test_mock_enum_pick_is_seeded(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    const char *schema = "return { type = 'object', required = {'need'}, properties = {"
                         "  need = { type = 'string', enum = {'high', 'medium', 'low', 'none', 'unknown'} } } }";
    int seen[5] = {0};
    for (int i = 0; i < 40; i++) {
        char user[32];
        snprintf(user, sizeof(user), "lead %d", i);
        char *a = mock_schema_value(fx, schema, user);
        char *b = mock_schema_value(fx, schema, user);
        assert_string_equal(a, b);
        const char *v = eval(L, -1, "return r.need");
        static const char *const vals[] = {"high", "medium", "low", "none", "unknown"};
        for (int k = 0; k < 5; k++)
            seen[k] += strcmp(v, vals[k]) == 0;
        lua_pop(L, 2);
        free(a);
        free(b);
    }
    int distinct = 0;
    for (int k = 0; k < 5; k++)
        distinct += seen[k] > 0;
    assert_true(distinct >= 3);
}

static void test_mock_calls_the_first_tool_first(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    const char *tools = "tools = {"
                        "  {name = 'lookup_company', description = 'Find a company', parameters = {"
                        "    type = 'object', required = {'domain'}, properties = {"
                        "      domain = {type = 'string'}, limit = {type = 'integer', minimum = 1, maximum = 10},"
                        "      website = {type = 'string', format = 'uri'} } } },"
                        "  {name = 'other', parameters = {type = 'object'}} }";
    char req[2048];
    snprintf(req, sizeof(req),
             "return { model = 'm', schema = {type = 'object'}, %s, messages = {{role = 'user', content = 'go'}} }",
             tools);
    mock_answer(L, req);
    assert_string_equal(eval(L, -1, "return r.text .. '|' .. r.finish_reason .. '|' .. #r.tool_calls"),
                        "|tool_calls|1");
    assert_string_equal(eval(L, -1, "local c = r.tool_calls[1] return c.id .. ' ' .. c.name"),
                        "mock_call_1 lookup_company");
    assert_string_equal(eval(L, -1, "local a = r.tool_calls[1].arguments return a.domain .. ' ' .. n(a.limit) .. ' ' "
                                    ".. a.website"),
                        "mock domain 6 https://northwind.example.com");
    assert_string_equal(eval(L, -1, "return r.usage.completion_tokens >= 1 and r.usage.prompt_tokens >= 1"),
                        "true");
    /* the arguments satisfy the tool's parameters */
    push_lua(L, req);
    lua_getfield(L, -1, "tools");
    lua_rawgeti(L, -1, 1);
    lua_getfield(L, -1, "parameters"); /* res, req, tools, tool, params */
    lua_getfield(L, -5, "tool_calls");
    lua_rawgeti(L, -1, 1);
    lua_getfield(L, -1, "arguments"); /* ..., params, calls, call, args */
    ag_rt_push_validation(fx->rt, -4, -1);
    assert_int_equal(lua_rawlen(L, -1), 0);
    lua_settop(L, 0);
    /* once a tool has answered: the schema answer, no more calls */
    snprintf(req, sizeof(req),
             "return { model = 'm', schema = {type = 'object', required = {'ok'}, properties = {ok = {type = "
             "'boolean'}}}, %s, messages = {{role = 'user', content = 'go'},"
             "  {role = 'assistant', content = '', tool_calls = {{id = 'mock_call_1', name = 'lookup_company', "
             "arguments = {}}}},"
             "  {role = 'tool', tool_call_id = 'mock_call_1', content = 'found'}} }",
             tools);
    mock_answer(L, req);
    assert_string_equal(eval(L, -1, "return r.text .. '|' .. r.finish_reason .. '|' .. tostring(r.tool_calls)"),
                        "{\"ok\":true}|stop|nil");
    lua_pop(L, 1);
    /* a tool without parameters is called with {} */
    mock_answer(L, "return { tools = {{name = 'ping'}}, messages = {{role = 'user', content = 'go'}} }");
    assert_string_equal(eval(L, -1, "local a = r.tool_calls[1].arguments return type(a) .. tostring(next(a))"),
                        "tablenil");
    assert_string_equal(eval(L, -1, "return r.tool_calls[1].name .. r.model"), "pingmock");
    lua_pop(L, 1);
    /* an empty tools list is no tools */
    mock_answer(L, "return { tools = {}, messages = {{role = 'user', content = 'go'}} }");
    assert_string_equal(eval(L, -1, "return r.text"), "[mock] Acknowledged: go");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provider_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_build_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_build_no_key_local_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_build_json_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_build_refuses_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_parse_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_parse_tool_calls_null_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_parse_lenient_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openai_parse_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_build_conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_build_json_no_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_parse_text_and_tool_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_parse_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_text_is_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_json_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_schema_qualify_lead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_schema_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_schema_bounds_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_enum_pick_is_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock_calls_the_first_tool_first, setup, teardown),
    };
    return cmocka_run_group_tests_name("llm_providers", tests, NULL, NULL);
}
