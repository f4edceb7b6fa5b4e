// The CPU thread count of Runner::open / Segmenter: a count below 1 is refused with a message
// naming it, and a valid count reaches LiteRT's CPU accelerator (XNNPACK): on Linux the process
// gains count - 1 worker threads when the model is compiled. (That the masks do not change with
// the thread count is checked on every golden case by test_golden.)
//
//   test_threads CONTRACT_DIR
#include <string>

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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_threads CONTRACT_DIR\n";
    return 2;
  }
  const std::string contract = argv[1];
  const std::string model = contract + "/models/smoke_float.tflite";

  CHECK_THROWS(Runner::open(model, Accelerator::kCpu, 0), "CPU thread count 0: give 1 or more");
  CHECK_THROWS(Runner::open(model, Accelerator::kCpu, -2), "CPU thread count -2: give 1 or more");
  CHECK_THROWS(Segmenter(contract + "/models/smoke_float.json", "", Accelerator::kCpu, 0), "CPU thread count 0");

  const int before = process_threads();
  if (before < 0) {
    std::cout << "no /proc/self/task: the thread count is not observable here\n";
    return testing::finish("test_threads");
  }
  std::unique_ptr<Runner> one = Runner::open(model, Accelerator::kCpu, 1);
  const int with_one = process_threads();
  std::unique_ptr<Runner> three = Runner::open(model, Accelerator::kCpu, 3);
  const int with_three = process_threads();
  std::cout << "process threads: " << before << " before, " << with_one << " after compiling with 1 CPU thread, "
            << with_three << " after compiling another with 3\n";
  CHECK(with_one == before);
  CHECK(with_three == with_one + 2);
  return testing::finish("test_threads");
}
