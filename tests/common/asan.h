/* SPDX-License-Identifier: MIT */
/*
 * UNDER_ASAN: 1 when built with AddressSanitizer (gcc or clang), whose
 * shadow memory and quarantine change what memory measurements mean.
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

#endif
