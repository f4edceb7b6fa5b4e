#include "testing.h"

#include <zlib.h>

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
