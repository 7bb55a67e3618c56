/*
 * test_events.c: the event filter syntax shared by GET /api/v1/events and webhooks (engine/events.c):
 * ag_event_type_matches and ag_event_patterns_check, and the event JSON shape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../engine/events.h"

static void test_matches_exact_and_prefix(void **state)
{
    (void)state;
    assert_true(ag_event_type_matches("task.succeeded", "task.succeeded"));
    assert_false(ag_event_type_matches("task.succeeded", "task.failed"));
    assert_false(ag_event_type_matches("task.succeeded", "task.succeeded2"));
    assert_false(ag_event_type_matches("task.succeeded", "task.succeede"));
    assert_true(ag_event_type_matches("task.*", "task.queued"));
    assert_true(ag_event_type_matches("task.*", "task."));
    assert_false(ag_event_type_matches("task.*", "task"));
    assert_false(ag_event_type_matches("task.*", "agent.created"));
    assert_false(ag_event_type_matches("task.*", "tasks.queued"));
    assert_true(ag_event_type_matches("*", "anything.at_all"));
    assert_true(ag_event_type_matches("ag*", "agent.created"));
}

static void test_matches_lists_and_empty(void **state)
{
    (void)state;
    assert_true(ag_event_type_matches(NULL, "task.queued"));
    assert_true(ag_event_type_matches("", "task.queued"));
    const char *p = "task.succeeded,agent.*,script.reloaded";
    assert_true(ag_event_type_matches(p, "task.succeeded"));
    assert_true(ag_event_type_matches(p, "agent.deleted"));
    assert_true(ag_event_type_matches(p, "script.reloaded"));
    assert_false(ag_event_type_matches(p, "script.error"));
    assert_false(ag_event_type_matches(p, "task.queued"));
    /* an element that is a prefix of the type but not the whole list element */
    assert_false(ag_event_type_matches("task.succeeded,agent", "agent.created"));
    /* the last element counts too */
    assert_true(ag_event_type_matches("x.y,task.running", "task.running"));
}

static void test_patterns_check(void **state)
{
    (void)state;
    assert_int_equal(ag_event_patterns_check(NULL), 0);
    assert_int_equal(ag_event_patterns_check("task.*"), 0);
    assert_int_equal(ag_event_patterns_check("*"), 0);
    assert_int_equal(ag_event_patterns_check("task.succeeded,agent.created,script_x.Y9"), 0);
    assert_int_equal(ag_event_patterns_check(""), -1);       /* empty list */
    assert_int_equal(ag_event_patterns_check("task.*,"), -1); /* empty element */
    assert_int_equal(ag_event_patterns_check(",task.*"), -1);
    assert_int_equal(ag_event_patterns_check("a,,b"), -1);
    assert_int_equal(ag_event_patterns_check("task*.x"), -1); /* '*' only at the end */
    assert_int_equal(ag_event_patterns_check("**"), -1);
    assert_int_equal(ag_event_patterns_check("task.*x"), -1);
    assert_int_equal(ag_event_patterns_check("task succeeded"), -1);
    assert_int_equal(ag_event_patterns_check("task-succeeded"), -1);
    assert_int_equal(ag_event_patterns_check("task.\n"), -1);
    assert_int_equal(ag_event_patterns_check("task.%2A"), -1);
    char longp[200];
    memset(longp, 'a', 100);
    longp[100] = '\0';
    assert_int_equal(ag_event_patterns_check(longp), 0); /* 100 characters: the limit */
    memset(longp, 'a', 101);
    longp[101] = '\0';
    assert_int_equal(ag_event_patterns_check(longp), -1);
    /* the limit is per element */
    char two[210];
    memset(two, 'a', 100);
    two[100] = ',';
    memset(two + 101, 'b', 100);
    two[201] = '\0';
    assert_int_equal(ag_event_patterns_check(two), 0);
}

static void test_event_json(void **state)
{
    (void)state;
    ag_event_t e = {.id = 7, .task_id = 3, .at = 1000, .type = "task.running", .domain = "sales",
                    .from = "queued", .to = "running", .detail = "w\"1"};
    ag_buf_t b;
    ag_buf_init(&b);
    ag_event_json(&b, &e);
    ag_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"id\":7,\"type\":\"task.running\",\"domain\":\"sales\","
                                "\"at\":\"1970-01-01T00:00:01.000Z\",\"task_id\":3,\"from\":\"queued\","
                                "\"to\":\"running\",\"detail\":\"w\\\"1\",\"data\":null}");
    ag_event_t a = {.id = 8, .at = 1000, .type = "agent.created", .data = "{\"id\":1}"};
    b.len = 0;
    ag_event_json(&b, &a);
    ag_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"id\":8,\"type\":\"agent.created\",\"domain\":null,"
                                "\"at\":\"1970-01-01T00:00:01.000Z\",\"task_id\":null,\"from\":null,"
                                "\"to\":null,\"detail\":null,\"data\":{\"id\":1}}");
    ag_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_exact_and_prefix),
        cmocka_unit_test(test_matches_lists_and_empty),
        cmocka_unit_test(test_patterns_check),
        cmocka_unit_test(test_event_json),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
