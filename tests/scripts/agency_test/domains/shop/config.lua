-- Fixture domain for `agency test` (tests/integration/test_agency_test.py). The llm settings name a real
-- provider on purpose: under `agency test` every llm.chat must still be answered offline.
return { description = "agency test fixtures", max_attempts = 2,
         llm = { provider = "openai", model = "gpt-4o-mini" } }
