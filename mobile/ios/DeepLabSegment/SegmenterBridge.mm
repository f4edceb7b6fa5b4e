// Objective-C++ bridge: Swift <-> segcore::Segmenter (mobile/native/include/segcore/runner.h).
#import "SegmenterBridge.h"

#include <array>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "segcore/runner.h"

static NSString *const kDomain = @"DeepLabSegment";

static NSError *ErrorFrom(const std::exception &e) {
  return [NSError errorWithDomain:kDomain
                             code:1
                         userInfo:@{NSLocalizedDescriptionKey : [NSString stringWithUTF8String:e.what()]}];
}

@interface DLSClassCount ()
- (instancetype)initWithId:(NSInteger)classId
                      name:(NSString *)name
                     color:(const uint8_t *)color
                    pixels:(NSInteger)pixels;
@end

@implementation DLSClassCount
- (instancetype)initWithId:(NSInteger)classId
                      name:(NSString *)name
                     color:(const uint8_t *)color
                    pixels:(NSInteger)pixels {
  if ((self = [super init])) {
    _classId = classId;
    _name = [name copy];
    _red = color[0];
    _green = color[1];
    _blue = color[2];
    _pixels = pixels;
  }
  return self;
}
@end

@interface DLSResult ()
- (instancetype)initWithOverlay:(NSData *)overlay
                          width:(NSInteger)width
                         height:(NSInteger)height
                        present:(NSArray<DLSClassCount *> *)present
                   preprocessMs:(double)preprocessMs
                    inferenceMs:(double)inferenceMs
                  postprocessMs:(double)postprocessMs;
@end

@implementation DLSResult
- (instancetype)initWithOverlay:(NSData *)overlay
                          width:(NSInteger)width
                         height:(NSInteger)height
                        present:(NSArray<DLSClassCount *> *)present
                   preprocessMs:(double)preprocessMs
                    inferenceMs:(double)inferenceMs
                  postprocessMs:(double)postprocessMs {
  if ((self = [super init])) {
    _overlayRGBA = overlay;
    _width = width;
    _height = height;
    _present = present;
    _preprocessMs = preprocessMs;
    _inferenceMs = inferenceMs;
    _postprocessMs = postprocessMs;
  }
  return self;
}
@end

static std::optional<std::vector<int>> IdsFrom(NSArray<NSNumber *> *_Nullable ids) {
  if (!ids) return std::nullopt;
  std::vector<int> out;
  for (NSNumber *n in ids) out.push_back(n.intValue);
  return out;
}

static NSArray<NSNumber *> *NumbersFrom(const std::vector<int> &ids) {
  NSMutableArray<NSNumber *> *out = [NSMutableArray arrayWithCapacity:ids.size()];
  for (int id : ids) [out addObject:@(id)];
  return out;
}

@interface DLSSegmenter ()
- (const segcore::ModelCard &)card;
@end

@implementation DLSSegmenter {
  std::unique_ptr<segcore::Segmenter> _segmenter;
  std::optional<segcore::LabelledMask> _shown;  // the last image, its mask and the card of the model that made it
}

- (nullable instancetype)initWithCardPath:(NSString *)cardPath
                              accelerator:(DLSAccelerator)accelerator
                                  threads:(NSInteger)threads
                                    error:(NSError **)error {
  if ((self = [super init])) {
    try {
      const bool gpu = accelerator == DLSAcceleratorGPU;
      // The thread count is a CPU setting, as in the Android app (the core refuses a count below 1); it also
      // serves the CPU that open_segmenter falls back to when the GPU fails.
      const std::optional<int> cpu_threads = static_cast<int>(threads);
      // LiteRT loads its GPU accelerator (libLiteRtMetalAccelerator.dylib) from the app's Frameworks folder,
      // where project.yml embeds it.
      NSString *frameworks = NSBundle.mainBundle.privateFrameworksPath ?: @"";
      segcore::OpenedSegmenter opened = segcore::open_segmenter(
          std::string(cardPath.UTF8String), gpu ? segcore::Accelerator::kGpu : segcore::Accelerator::kCpu,
          cpu_threads, std::string(frameworks.UTF8String));
      _segmenter = std::move(opened.segmenter);
      _runningAccelerator = opened.accelerator == segcore::Accelerator::kGpu ? DLSAcceleratorGPU : DLSAcceleratorCPU;
      _notice = opened.notice.empty() ? nil : [NSString stringWithUTF8String:opened.notice.c_str()];
    } catch (const std::exception &e) {
      if (error) *error = ErrorFrom(e);
      return nil;
    }
  }
  return self;
}

- (const segcore::ModelCard &)card {
  return _segmenter->card();
}

- (NSString *)modelName {
  return [NSString stringWithUTF8String:_segmenter->card().name.c_str()];
}

- (NSString *)summary {
  const segcore::ModelCard &card = _segmenter->card();
  return [NSString stringWithFormat:@"input %dx%d %s · %s %s · %zu classes", card.input.width, card.input.height,
                                    segcore::dtype_name(card.input.dtype), card.output.kind.c_str(),
                                    segcore::dtype_name(card.output.dtype), card.classes.size()];
}

- (BOOL)letterboxByDefault {
  return _segmenter->card().input.resize == segcore::Resize::kLetterbox;
}

- (NSArray<DLSClassCount *> *)legendFor:(const std::vector<segcore::ClassCount> &)counts {
  const auto &classes = _segmenter->card().classes;
  NSMutableArray<DLSClassCount *> *out = [NSMutableArray arrayWithCapacity:counts.size()];
  for (const auto &count : counts) {
    const segcore::ClassInfo &info = classes.at(static_cast<size_t>(count.id));
    [out addObject:[[DLSClassCount alloc] initWithId:count.id
                                                name:[NSString stringWithUTF8String:info.name.c_str()]
                                               color:info.color
                                              pixels:static_cast<NSInteger>(count.pixels)]];
  }
  return out;
}

- (nullable DLSResult *)segmentRGBA:(NSData *)rgba
                              width:(NSInteger)width
                             height:(NSInteger)height
                          letterbox:(BOOL)letterbox
                            opacity:(NSInteger)opacity
                               only:(nullable NSArray<NSNumber *> *)only
                               live:(BOOL)live
                              error:(NSError **)error {
  try {
    if (width <= 0 || height <= 0 || rgba.length != static_cast<NSUInteger>(width * height * 4)) {
      throw segcore::Error("the image must be width x height x 4 RGBA bytes");
    }
    const auto *bytes = static_cast<const uint8_t *>(rgba.bytes);
    segcore::ImageView view{bytes, static_cast<int>(height), static_cast<int>(width), 4};
    const segcore::Resize resize = letterbox ? segcore::Resize::kLetterbox : segcore::Resize::kStretch;
    if (live) {
      segcore::LiveSegmentation s = _segmenter->segment_live(view, resize, static_cast<int>(opacity), IdsFrom(only));
      _shown.reset();  // a camera frame: no image-size mask to redraw or share
      const std::array<double, 3> times{s.preprocess_ms, s.inference_ms, s.postprocess_ms};
      return [self resultWithRGBA:s.rgba width:s.mask.width height:s.mask.height classes:s.classes times:times];
    }
    segcore::Segmentation s = _segmenter->segment(view, resize, static_cast<int>(opacity), IdsFrom(only));
    _shown = segcore::LabelledMask{_segmenter->card(),
                                   segcore::Image{view.height, view.width, 4, std::vector<uint8_t>(bytes, bytes + rgba.length)},
                                   s.mask_image};
    const std::array<double, 3> times{s.preprocess_ms, s.inference_ms, s.postprocess_ms};
    return [self resultWithRGBA:s.overlay_rgba width:view.width height:view.height classes:s.classes times:times];
  } catch (const std::exception &e) {
    if (error) *error = ErrorFrom(e);
    return nil;
  }
}

- (DLSResult *)resultWithRGBA:(const std::vector<uint8_t> &)rgba
                        width:(int)width
                       height:(int)height
                      classes:(const std::vector<segcore::ClassCount> &)classes
                        times:(std::array<double, 3>)times {
  return [[DLSResult alloc] initWithOverlay:[NSData dataWithBytes:rgba.data() length:rgba.size()]
                                      width:width
                                     height:height
                                    present:[self legendFor:classes]
                               preprocessMs:times[0]
                                inferenceMs:times[1]
                              postprocessMs:times[2]];
}

- (nullable NSData *)overlayWithOpacity:(NSInteger)opacity only:(nullable NSArray<NSNumber *> *)only {
  if (!_shown) return nil;
  try {
    segcore::Recoloured drawn = segcore::recolour(*_shown, _segmenter->card(), static_cast<int>(opacity), IdsFrom(only));
    if (!drawn.refused.empty()) return nil;  // another model's mask: the caller runs the model again
    return [NSData dataWithBytes:drawn.rgba.data() length:drawn.rgba.size()];
  } catch (const std::exception &) {
    return nil;
  }
}

- (nullable NSData *)cutoutKeeping:(NSArray<NSNumber *> *)classes {
  if (!_shown) return nil;
  try {
    std::vector<uint8_t> rgba = segcore::cutout(_shown->image.view(), _shown->mask,
                                                static_cast<int>(_shown->card.classes.size()), *IdsFrom(classes));
    return [NSData dataWithBytes:rgba.data() length:rgba.size()];
  } catch (const std::exception &) {
    return nil;
  }
}

- (nullable NSData *)maskColours {
  if (!_shown) return nil;
  try {
    std::vector<uint8_t> rgba = segcore::mask_colours(*_shown);
    return [NSData dataWithBytes:rgba.data() length:rgba.size()];
  } catch (const std::exception &) {
    return nil;
  }
}
@end

@implementation DLSClassFilters {
  segcore::ClassFilters _filters;
}

- (nullable NSArray<NSNumber *> *)filterFor:(DLSSegmenter *)segmenter {
  std::optional<std::vector<int>> only = _filters.of([segmenter card]);
  return only ? NumbersFrom(*only) : nil;
}

- (void)toggleClass:(NSInteger)classId for:(DLSSegmenter *)segmenter {
  try {
    _filters.toggle([segmenter card], static_cast<int>(classId));
  } catch (const std::exception &) {
    // An id outside the card: nothing to switch.
  }
}

- (NSArray<NSNumber *> *)cutoutClassesFor:(DLSSegmenter *)segmenter {
  return NumbersFrom(_filters.cutout_classes([segmenter card]));
}
@end

@implementation DLSRateMeter {
  segcore::RateMeter _meter;
}

- (void)addFrameEndingAt:(int64_t)endNanos inferenceMs:(double)inferenceMs {
  _meter.add(endNanos, inferenceMs);
}

- (nullable NSNumber *)fps {
  std::optional<double> fps = _meter.fps();
  return fps ? @(*fps) : nil;
}

- (nullable NSNumber *)meanInferenceMs {
  std::optional<double> mean = _meter.mean_inference_ms();
  return mean ? @(*mean) : nil;
}

- (void)reset {
  _meter.reset();
}
@end
