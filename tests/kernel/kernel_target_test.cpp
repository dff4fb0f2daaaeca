#include <gtest/gtest.h>
TEST(KernelTarget, Placeholder) { SUCCEED(); }
