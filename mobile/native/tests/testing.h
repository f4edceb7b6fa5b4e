// Test helpers: checks that count failures, file reading and a PNG decoder (zlib) for the goldens.
#ifndef SEGCORE_TESTS_TESTING_H_
#define SEGCORE_TESTS_TESTING_H_

#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace testing {

extern int failures;

#define CHECK(condition)                                                                     \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      ++testing::failures;                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #condition << std::endl; \
    }                                                                                        \
  } while (0)

// Checks that `body` throws segcore::Error whose message contains `expected`.
void check_throws(const std::function<void()>& body, const std::string& expected, const char* where);
#define CHECK_THROWS(body, expected) testing::check_throws([&] { body; }, expected, #body)

int finish(const char* name);  // prints the result; the process exit code

std::vector<uint8_t> read_file(const std::string& path);  // throws std::runtime_error
std::string read_text(const std::string& path);
bool file_exists(const std::string& path);
std::string sha256_hex(const std::vector<uint8_t>& data);  // lower-case hex digest

struct Png {
  int height = 0, width = 0, channels = 0;  // 1 gray, 3 RGB, 4 RGBA
  std::vector<uint8_t> pixels;
};
Png read_png(const std::string& path);  // 8-bit, non-interlaced; throws std::runtime_error

}  // namespace testing

#endif  // SEGCORE_TESTS_TESTING_H_
