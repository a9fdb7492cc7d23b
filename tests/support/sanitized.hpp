// Whether this test binary (and so the servers and loadgen built with it) runs under ASan or
// TSan: their runtimes slow every process several times over and change its memory figures, so
// a test whose premise is a timing or a memory figure says what it can still check there.
#pragma once

namespace poolbench::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace poolbench::testing
