// Runs a segmentation .tflite through the LiteRT C API (CompiledModel) of libLiteRt.so.
#ifndef SEGCORE_RUNNER_H_
#define SEGCORE_RUNNER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "segcore/segcore.h"

namespace segcore {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUInt8;
  std::vector<int64_t> shape;
  std::optional<Quantization> quantization;
  size_t bytes() const;
};

enum class Accelerator { kCpu, kGpu };

class Runner {
 public:
  // Loads and compiles the model. cpu_threads: the CPU (XNNPACK) thread count, at least 1;
  // unset, LiteRT chooses. library_dir: the folder LiteRT loads its GPU accelerator library
  // from (an iOS app's Frameworks folder); empty, the loader's search path. Throws Error for a
  // thread count below 1, the GPU when LiteRT has no GPU accelerator, a missing file, a file
  // LiteRT cannot load, or a model outside the contract: not one input [1, H, W, 3] (uint8,
  // int8 or float32) and one output [1, H, W, C] scores (float32, uint8, int8) or [1, H, W]
  // mask (uint8, int32, int64); the message names the tensor and what is wrong.
  static std::unique_ptr<Runner> open(const std::string& model_path, Accelerator accelerator = Accelerator::kCpu,
                                      std::optional<int> cpu_threads = std::nullopt,
                                      const std::string& library_dir = "");
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  const TensorInfo& input() const { return input_; }
  const TensorInfo& output() const { return output_; }
  std::string output_kind() const;  // "scores" or "mask", from the output's shape
  // Whether the accelerator it was compiled for runs every op (on the GPU: the model ran whole on the
  // GPU; false: LiteRT runs some ops, e.g. a mask output's ARG_MAX, on the CPU).
  bool fully_accelerated() const { return fully_accelerated_; }

  // Throws Error if the card's input/output/classes disagree with the model's tensors.
  void check_card(const ModelCard& card) const;

  // input: input().bytes() bytes; returns the output tensor's bytes as stored.
  std::vector<uint8_t> run(const std::vector<uint8_t>& input);

 private:
  struct Handles;
  Runner(std::unique_ptr<Handles> handles, TensorInfo input, TensorInfo output);
  std::unique_ptr<Handles> handles_;
  TensorInfo input_, output_;
  bool fully_accelerated_ = false;
};

// A live camera frame: only the model's mask cropped to the content box, coloured (no image-size work).
struct LiveSegmentation {
  Mask mask;                        // mask_crop of the model's mask
  std::vector<uint8_t> rgba;        // colour_mask of it: premultiplied RGBA at its size
  std::vector<ClassCount> classes;  // present in `mask`
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

// The whole pipeline for an app: image -> masks, overlay and legend.
struct Segmentation {
  Mask mask_model, mask_image;
  std::vector<uint8_t> overlay_rgba;
  std::vector<ClassCount> classes;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

class Segmenter {
 public:
  // card_path: the model card; the model is <card dir>/<card.model_file> unless model_path is given.
  // accelerator, cpu_threads and library_dir as for Runner::open.
  Segmenter(const std::string& card_path, const std::string& model_path = "",
            Accelerator accelerator = Accelerator::kCpu, std::optional<int> cpu_threads = std::nullopt,
            const std::string& library_dir = "");
  const ModelCard& card() const { return card_; }
  bool fully_accelerated() const { return runner_->fully_accelerated(); }
  // For a live preview: the mask at model resolution, coloured; the display scales it over the picture.
  LiveSegmentation segment_live(const ImageView& image, Resize resize, int opacity,
                                const std::optional<std::vector<int>>& only = std::nullopt);
  // `only`: the class filter of the overlay (none: every class coloured).
  Segmentation segment(const ImageView& image, Resize resize, int opacity,
                       const std::optional<std::vector<int>>& only = std::nullopt);

 private:
  struct Inferred {  // preprocessed and run: the model's mask and where the image sits in the input
    Mask mask_model;
    Box box;
    double preprocess_ms = 0, inference_ms = 0;
    std::chrono::steady_clock::time_point ran;
  };
  Inferred infer(const ImageView& image, Resize resize);

  ModelCard card_;
  std::unique_ptr<Runner> runner_;
};

// A segmenter and where it runs; `notice` is what the app shows when it fell back to the CPU, or when the
// GPU runs only part of the model (the rest on the CPU).
struct OpenedSegmenter {
  std::unique_ptr<Segmenter> segmenter;
  Accelerator accelerator = Accelerator::kCpu;
  std::string notice;
};

// A Segmenter on `requested`; when the GPU fails (no accelerator library, no usable GPU, a model it
// cannot run), on the CPU with cpu_threads, with a notice saying so. Throws the CPU's Error when
// the CPU fails too (a model or card outside the contract fails on both).
OpenedSegmenter open_segmenter(const std::string& card_path, Accelerator requested,
                               std::optional<int> cpu_threads = std::nullopt, const std::string& library_dir = "");

}  // namespace segcore

#endif  // SEGCORE_RUNNER_H_
