// Where Runner::open / Segmenter run the model.
// CPU threads: a count below 1 is refused with a message naming it, and a valid count reaches
// LiteRT's CPU accelerator (XNNPACK): on Linux the process gains count - 1 worker threads when the
// model is compiled. (That the masks do not change with the thread count is checked on every
// golden case by test_golden.)
// GPU: without a GPU accelerator library (as on this project's machines) the runner says so;
// where one loads, the GPU's mask must agree with the CPU's. Also with a library folder for
// LiteRT to search (tests/mobile/test_native.py reads LiteRT's log to see it searched there).
//
//   test_accelerators CONTRACT_DIR
#include <string>
#include <vector>

#include "segcore/runner.h"
#include "testing.h"

#ifdef __linux__
#include <dirent.h>
#endif

using namespace segcore;

namespace {

// Threads of this process, or -1 where /proc/self/task does not exist.
int process_threads() {
#ifdef __linux__
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count;
#else
  return -1;
#endif
}

// The GPU: refused with a message naming the missing accelerator, or (where LiteRT loads one) the
// same mask as the CPU on >= 99% of pixels (the GPU computes in fp16).
// library_dir is where LiteRT looks for the GPU library (its log, on stderr, names the paths tried).
void gpu_or_a_clear_error(const std::string& contract, const std::string& library_dir) {
  const std::string model = contract + "/models/smoke_float.tflite";
  std::unique_ptr<Runner> gpu;
  try {
    gpu = Runner::open(model, Accelerator::kGpu, std::nullopt, library_dir);
  } catch (const Error& error) {
    const std::string message = error.what();
    CHECK(message.find("LiteRT has no GPU accelerator here") != std::string::npos);
    CHECK(message.find(library_dir.empty() ? "the loader's search path" : library_dir) != std::string::npos);
    std::cout << "GPU: refused: " << message << "\n";
    return;
  }
  std::unique_ptr<Runner> cpu = Runner::open(model, Accelerator::kCpu, 1);
  std::cout << "GPU: fully accelerated: " << (gpu->fully_accelerated() ? "yes" : "no") << "\n";
  const std::vector<uint8_t> input = testing::read_file(contract + "/cases/float_rgba_stretch/input.bin");
  const std::vector<uint8_t> a = gpu->run(input), b = cpu->run(input);
  const auto& out = cpu->output();
  const int classes = static_cast<int>(out.shape.back());
  const Mask on_gpu = output_to_mask(a.data(), a.size(), out.dtype, out.shape, "scores", classes);
  const Mask on_cpu = output_to_mask(b.data(), b.size(), out.dtype, out.shape, "scores", classes);
  size_t same = 0;
  for (size_t i = 0; i < on_cpu.ids.size(); ++i) same += on_gpu.ids[i] == on_cpu.ids[i];
  std::cout << "GPU: ran; its mask = the CPU's on " << same << " of " << on_cpu.ids.size() << " pixels\n";
  CHECK(same >= on_cpu.ids.size() * 99 / 100);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_accelerators CONTRACT_DIR\n";
    return 2;
  }
  const std::string contract = argv[1];
  const std::string model = contract + "/models/smoke_float.tflite";

  CHECK_THROWS(Runner::open(model, Accelerator::kCpu, 0), "CPU thread count 0: give 1 or more");
  CHECK_THROWS(Runner::open(model, Accelerator::kCpu, -2), "CPU thread count -2: give 1 or more");
  CHECK_THROWS(Segmenter(contract + "/models/smoke_float.json", "", Accelerator::kCpu, 0), "CPU thread count 0");

  gpu_or_a_clear_error(contract, "");
  gpu_or_a_clear_error(contract, contract + "/no_gpu_library_here");

  // Which models the CPU accelerator (XNNPACK) takes whole: a mask output's fused ARG_MAX is not an XNNPACK op.
  for (const char* name : {"smoke_float", "smoke_int8", "tiny_int8_mask"}) {
    std::unique_ptr<Runner> runner = Runner::open(contract + "/models/" + name + ".tflite", Accelerator::kCpu, 1);
    std::cout << "CPU: " << name << " fully accelerated: " << (runner->fully_accelerated() ? "yes" : "no") << "\n";
  }

  const int before = process_threads();
  if (before < 0) {
    std::cout << "no /proc/self/task: the thread count is not observable here\n";
    return testing::finish("test_accelerators");
  }
  std::unique_ptr<Runner> one = Runner::open(model, Accelerator::kCpu, 1);
  const int with_one = process_threads();
  std::unique_ptr<Runner> three = Runner::open(model, Accelerator::kCpu, 3);
  const int with_three = process_threads();
  std::cout << "process threads: " << before << " before, " << with_one << " after compiling with 1 CPU thread, "
            << with_three << " after compiling another with 3\n";
  CHECK(with_one == before);
  CHECK(with_three == with_one + 2);
  return testing::finish("test_accelerators");
}
