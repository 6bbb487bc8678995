/* SPDX-License-Identifier: MIT */
/*
 * UNDER_ASAN: 1 when built with AddressSanitizer (gcc or clang), whose
 * shadow memory and quarantine change what memory measurements mean.
 * UNDER_TSAN: 1 with ThreadSanitizer, which makes every stackful task a
 * fiber (a few KiB each, at most 8128 with the threads) and its shadow
 * grows with the memory touched. UNDER_SANITIZER: either.
 */
#ifndef VS_TEST_ASAN_H
#define VS_TEST_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#define UNDER_SANITIZER (UNDER_ASAN || UNDER_TSAN)

#endif
