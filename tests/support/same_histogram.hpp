// Test support: expect_same_histogram, the check that a decoded histogram (from our encoding,
// Java's or an interval log line) is the one that was encoded: shape, every count, statistics.
#pragma once

#include <gtest/gtest.h>

#include "histogram.hpp"

namespace poolbench::testing {

inline void expect_same_histogram(const Histogram& a, const Histogram& b) {
  ASSERT_EQ(a.lowest_discernible(), b.lowest_discernible());
  ASSERT_EQ(a.highest_trackable(), b.highest_trackable());
  ASSERT_EQ(a.significant_digits(), b.significant_digits());
  ASSERT_EQ(a.counts_length(), b.counts_length());
  for (int i = 0; i < a.counts_length(); ++i)
    ASSERT_EQ(a.count_at_index(i), b.count_at_index(i));
  EXPECT_EQ(a.total_count(), b.total_count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.mean(), b.mean());
}

}  // namespace poolbench::testing
