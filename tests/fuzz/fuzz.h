/*
 * fuzz.h - what every fuzz target of tests/fuzz/ shares.
 *
 * A target defines LLVMFuzzerTestOneInput() and nothing else that a driver
 * must call. It is linked two ways: with libFuzzer (clang -fsanitize=fuzzer,
 * `meson setup -Dfuzz=true`) to search for crashes, and with replay_main.c
 * in every build to run the committed corpus once, so that each input that
 * once crashed stays a regression test under gcc's sanitizers too.
 *
 * A target must not leak, print, or keep state between inputs beyond caches
 * that make no difference to the outcome: libFuzzer reports a leak as a
 * crash, and a replay must give the same result as the run that found it.
 */
#ifndef VIZ_FUZZ_H
#define VIZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: abort so that the fuzzer (or the replay) reports the
 * input, whichever sanitizer is on. */
#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

#endif
