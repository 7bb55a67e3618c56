/*
 * test_llm_limits.c: provider admission (engine/llm/limits.c) with explicit clocks: the concurrency
 * limit, the requests- and tokens-per-minute buckets (waits, never failures), the circuit breaker's
 * open / half-open probe / close cycle; and the LLM helpers in engine/llm/llm.c that need no network:
 * prices, Retry-After parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../engine/llm/limits.h"
#include "../../engine/llm/llm.h"

static void test_concurrency_waits_then_admits(void **state)
{
    (void)state;
    ag_llm_limits_t *l = ag_llm_limits_new(&(ag_llm_limits_conf_t){.concurrency = 2});
    assert_int_equal(ag_llm_limits_acquire(l, 1000, 10), AG_LLM_ADMIT);
    assert_int_equal(ag_llm_limits_acquire(l, 1000, 10), AG_LLM_ADMIT);
    int64_t w = ag_llm_limits_acquire(l, 1000, 10);
    assert_true(w > 0);
    ag_llm_limits_release(l, 1001, AG_LLM_OUTCOME_OK, 10, 10);
    assert_int_equal(ag_llm_limits_acquire(l, 1002, 10), AG_LLM_ADMIT);
    ag_llm_limits_free(l);
}

static void test_requests_per_minute_bucket(void **state)
{
    (void)state;
    int64_t t = 5000000;
    ag_llm_limits_t *l = ag_llm_limits_new(&(ag_llm_limits_conf_t){.rpm = 60});
    /* the bucket starts full: 60 at once, then one per second */
    for (int i = 0; i < 60; i++) {
        assert_int_equal(ag_llm_limits_acquire(l, t, 1), AG_LLM_ADMIT);
        ag_llm_limits_release(l, t, AG_LLM_OUTCOME_OK, 1, 1);
    }
    int64_t w = ag_llm_limits_acquire(l, t, 1);
    assert_true(w > 900 && w <= 1001);
    assert_true(ag_llm_limits_acquire(l, t + 500, 1) > 0);
    assert_int_equal(ag_llm_limits_acquire(l, t + 1001, 1), AG_LLM_ADMIT);
    ag_llm_limits_free(l);
}

static void test_tokens_per_minute_bucket_and_correction(void **state)
{
    (void)state;
    int64_t t = 7000000;
    ag_llm_limits_t *l = ag_llm_limits_new(&(ag_llm_limits_conf_t){.tpm = 6000}); /* 100 tokens/s */
    assert_int_equal(ag_llm_limits_acquire(l, t, 5000), AG_LLM_ADMIT);
    /* it used more than estimated: the bucket pays the difference */
    ag_llm_limits_release(l, t, AG_LLM_OUTCOME_OK, 5000, 5900);
    int64_t w = ag_llm_limits_acquire(l, t, 1000); /* 100 left, 1000 needed: 9 s */
    assert_true(w >= 8900 && w <= 9100);
    assert_int_equal(ag_llm_limits_acquire(l, t + 9100, 1000), AG_LLM_ADMIT);
    /* a call larger than a whole minute's budget still runs once the bucket is full */
    ag_llm_limits_release(l, t + 9100, AG_LLM_OUTCOME_OK, 1000, 1000);
    assert_int_equal(ag_llm_limits_acquire(l, t + 9100 + 60000, 100000), AG_LLM_ADMIT);
    ag_llm_limits_free(l);
}

static void test_circuit_opens_probes_and_closes(void **state)
{
    (void)state;
    int64_t t = 9000000;
    ag_llm_limits_t *l = ag_llm_limits_new(&(ag_llm_limits_conf_t){.failures = 3, .cooldown_ms = 1000});
    assert_string_equal(ag_llm_limits_state(l, t), "closed");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ag_llm_limits_acquire(l, t, 1), AG_LLM_ADMIT);
        ag_llm_limits_release(l, t, i == 1 ? AG_LLM_OUTCOME_NEUTRAL : AG_LLM_OUTCOME_FAILED, 1, 0);
    }
    /* neutral outcomes (429, 4xx) neither count nor reset: 2 failures so far */
    assert_string_equal(ag_llm_limits_state(l, t), "closed");
    assert_int_equal(ag_llm_limits_acquire(l, t, 1), AG_LLM_ADMIT);
    ag_llm_limits_release(l, t, AG_LLM_OUTCOME_FAILED, 1, 0);
    assert_string_equal(ag_llm_limits_state(l, t), "open");
    assert_int_equal(ag_llm_limits_acquire(l, t + 999, 1), AG_LLM_CIRCUIT_OPEN);
    /* after the cool-down exactly one probe goes through */
    assert_string_equal(ag_llm_limits_state(l, t + 1000), "half_open");
    assert_int_equal(ag_llm_limits_acquire(l, t + 1000, 1), AG_LLM_ADMIT);
    assert_int_equal(ag_llm_limits_acquire(l, t + 1000, 1), AG_LLM_CIRCUIT_OPEN);
    /* the probe fails: open again for a whole cool-down */
    ag_llm_limits_release(l, t + 1100, AG_LLM_OUTCOME_FAILED, 1, 0);
    assert_int_equal(ag_llm_limits_acquire(l, t + 2000, 1), AG_LLM_CIRCUIT_OPEN);
    assert_int_equal(ag_llm_limits_acquire(l, t + 2100, 1), AG_LLM_ADMIT);
    ag_llm_limits_release(l, t + 2100, AG_LLM_OUTCOME_OK, 1, 1);
    assert_string_equal(ag_llm_limits_state(l, t + 2100), "closed");
    assert_int_equal(ag_llm_limits_acquire(l, t + 2100, 1), AG_LLM_ADMIT);
    assert_int_equal(ag_llm_limits_acquire(l, t + 2100, 1), AG_LLM_ADMIT);
    ag_llm_limits_free(l);
}

static void test_no_breaker_when_failures_is_zero(void **state)
{
    (void)state;
    ag_llm_limits_t *l = ag_llm_limits_new(&(ag_llm_limits_conf_t){0});
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ag_llm_limits_acquire(l, 1, 1), AG_LLM_ADMIT);
        ag_llm_limits_release(l, 1, AG_LLM_OUTCOME_FAILED, 1, 0);
    }
    assert_string_equal(ag_llm_limits_state(l, 1), "closed");
    ag_llm_limits_free(l);
}

static void test_prices(void **state)
{
    (void)state;
    ag_llm_config_t c;
    memset(&c, 0, sizeof(c));
    assert_true(ag_llm_cost(&c, "gpt-4o-mini", 1000000, 0) > 0.149 && ag_llm_cost(&c, "gpt-4o-mini", 1000000, 0) < 0.151);
    assert_true(ag_llm_cost(&c, "gpt-4o-mini-2024-07-18", 0, 1000000) > 0.59);
    assert_true(ag_llm_cost(&c, "mock", 1000000, 1000000) == 0);
    assert_true(ag_llm_cost(&c, "some-local-model", 1000000, 1000000) == 0);
    strcpy(c.prices, "some-local-model=1/2, gpt-4o-mini=10/20");
    assert_true(ag_llm_cost(&c, "some-local-model", 1000000, 1000000) > 2.99 &&
                ag_llm_cost(&c, "some-local-model", 1000000, 1000000) < 3.01);
    assert_true(ag_llm_cost(&c, "gpt-4o-mini", 500000, 0) > 4.99); /* configured beats built-in */
}

static void test_retry_after(void **state)
{
    (void)state;
    int64_t now = 1700000000000LL; /* 2023-11-14T22:13:20Z */
    assert_int_equal(ag_llm_retry_after_ms("2", now), 2000);
    assert_int_equal(ag_llm_retry_after_ms("0.5", now), 500);
    assert_int_equal(ag_llm_retry_after_ms("Tue, 14 Nov 2023 22:13:25 GMT", now), 5000);
    assert_int_equal(ag_llm_retry_after_ms("Tue, 14 Nov 2023 22:13:00 GMT", now), 0);
    assert_int_equal(ag_llm_retry_after_ms("soon", now), -1);
    assert_int_equal(ag_llm_retry_after_ms("-3", now), -1);
    assert_int_equal(ag_llm_retry_after_ms(NULL, now), -1);
    assert_int_equal(ag_llm_retry_after_ms("", now), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency_waits_then_admits),
        cmocka_unit_test(test_requests_per_minute_bucket),
        cmocka_unit_test(test_tokens_per_minute_bucket_and_correction),
        cmocka_unit_test(test_circuit_opens_probes_and_closes),
        cmocka_unit_test(test_no_breaker_when_failures_is_zero),
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
