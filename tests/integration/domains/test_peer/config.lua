-- A second, tiny test domain (test_memory.py): its memory is its own; it reads the test domain's by name.
return { description = "peer test domain for shared memory", max_attempts = 1 }
