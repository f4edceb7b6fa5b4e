#include "testing.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "segcore/segcore.h"

namespace testing {

int failures = 0;

void check_throws(const std::function<void()>& body, const std::string& expected, const char* where) {
  try {
    body();
  } catch (const segcore::Error& error) {
    std::string message = error.what();
    if (message.find(expected) == std::string::npos) {
      ++failures;
      std::cerr << "CHECK_THROWS(" << where << "): message \"" << message << "\" lacks \"" << expected << "\"\n";
    } else {
      std::cout << "  rejected as expected: " << message << "\n";
    }
    return;
  } catch (const std::exception& error) {
    ++failures;
    std::cerr << "CHECK_THROWS(" << where << "): threw a non-segcore error: " << error.what() << "\n";
    return;
  }
  ++failures;
  std::cerr << "CHECK_THROWS(" << where << "): did not throw (expected \"" << expected << "\")\n";
}

int finish(const char* name) {
  if (failures) {
    std::cerr << name << ": " << failures << " check(s) failed\n";
    return 1;
  }
  std::cout << name << ": all checks passed\n";
  return 0;
}

bool file_exists(const std::string& path) { return static_cast<bool>(std::ifstream(path, std::ios::binary)); }

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

std::string read_text(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

static uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string sha256_hex(const std::vector<uint8_t>& data) {
  // FIPS 180-4. Round constants: the first 32 bits of the fractional parts of the cube roots of
  // the first 64 primes; initial hash value: those of the square roots of the first 8 primes.
  auto fraction_bits = [](long double x) { return static_cast<uint32_t>((x - std::floor(x)) * 4294967296.0L); };
  uint32_t k[64], h[8];
  for (int n = 2, found = 0; found < 64; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    if (!prime) continue;
    if (found < 8) h[found] = fraction_bits(std::sqrt(static_cast<long double>(n)));
    k[found++] = fraction_bits(std::cbrt(static_cast<long double>(n)));
  }
  std::vector<uint8_t> message = data;  // padded: 0x80, zeros, the bit length (big-endian, 64 bits)
  message.push_back(0x80);
  while (message.size() % 64 != 56) message.push_back(0);
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  for (int i = 7; i >= 0; --i) message.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t block = 0; block < message.size(); block += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = be32(&message[block + 4 * t]);
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t v[8];
    std::copy(h, h + 8, v);
    for (int t = 0; t < 64; ++t) {
      const uint32_t big_s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
      const uint32_t choose = (v[4] & v[5]) ^ (~v[4] & v[6]);
      const uint32_t t1 = v[7] + big_s1 + choose + k[t] + w[t];
      const uint32_t big_s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
      const uint32_t majority = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
      std::copy_backward(v, v + 7, v + 8);  // h = g, g = f, ..., b = a
      v[4] += t1;
      v[0] = t1 + big_s0 + majority;
    }
    for (int i = 0; i < 8; ++i) h[i] += v[i];
  }
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (uint32_t word : h)
    for (int shift = 28; shift >= 0; shift -= 4) hex += digits[(word >> shift) & 15];
  return hex;
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

Png read_png(const std::string& path) {
  const std::vector<uint8_t> file = read_file(path);
  static const uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (file.size() < 8 || !std::equal(kSignature, kSignature + 8, file.begin()))
    throw std::runtime_error(path + " is not a PNG");
  Png png;
  std::vector<uint8_t> compressed;
  for (size_t pos = 8; pos + 12 <= file.size();) {
    uint32_t length = be32(&file[pos]);
    std::string type(file.begin() + pos + 4, file.begin() + pos + 8);
    if (pos + 12 + length > file.size()) throw std::runtime_error(path + ": truncated chunk " + type);
    const uint8_t* data = &file[pos + 8];
    if (type == "IHDR") {
      png.width = static_cast<int>(be32(data));
      png.height = static_cast<int>(be32(data + 4));
      int depth = data[8], color = data[9], interlace = data[12];
      if (depth != 8 || interlace != 0 || (color != 0 && color != 2 && color != 6))
        throw std::runtime_error(path + ": only 8-bit non-interlaced gray/RGB/RGBA PNGs are read here");
      png.channels = color == 0 ? 1 : (color == 2 ? 3 : 4);
    } else if (type == "IDAT") {
      compressed.insert(compressed.end(), data, data + length);
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + length;
  }
  const size_t stride = static_cast<size_t>(png.width) * png.channels;
  std::vector<uint8_t> raw((stride + 1) * png.height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, compressed.data(), compressed.size()) != Z_OK || raw_size != raw.size())
    throw std::runtime_error(path + ": corrupt image data");
  png.pixels.resize(stride * png.height);
  const int bpp = png.channels;
  for (int y = 0; y < png.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* out = &png.pixels[y * stride];
    const uint8_t* up = y ? out - stride : nullptr;
    for (size_t i = 0; i < stride; ++i) {
      int a = i >= static_cast<size_t>(bpp) ? out[i - bpp] : 0, b = up ? up[i] : 0;
      int c = (up && i >= static_cast<size_t>(bpp)) ? up[i - bpp] : 0;
      int predictor = 0;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: predictor = paeth(a, b, c); break;
        default: throw std::runtime_error(path + ": bad PNG filter");
      }
      out[i] = static_cast<uint8_t>(in[i] + predictor);
    }
  }
  return png;
}

}  // namespace testing
