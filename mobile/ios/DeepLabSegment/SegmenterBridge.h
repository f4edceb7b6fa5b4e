// Objective-C interface over mobile/native's C++ segcore::Segmenter, for Swift (through the bridging header).
// Everything model-specific comes from the model card, so any exported model works without code changes.
#import <Foundation/Foundation.h>

NS_ASSUME_NONNULL_BEGIN

typedef NS_ENUM(NSInteger, DLSAccelerator) {
  DLSAcceleratorCPU = 0,
  DLSAcceleratorGPU = 1,
};

/// A class present in the mask: its id, name and colour from the card, and its pixel count.
@interface DLSClassCount : NSObject
@property(nonatomic, readonly) NSInteger classId;
@property(nonatomic, readonly, copy) NSString *name;
@property(nonatomic, readonly) uint8_t red;
@property(nonatomic, readonly) uint8_t green;
@property(nonatomic, readonly) uint8_t blue;
@property(nonatomic, readonly) NSInteger pixels;
@end

/// One segmented image: the RGBA overlay at image size, the legend and the stage times.
@interface DLSResult : NSObject
@property(nonatomic, readonly) NSData *overlayRGBA;
@property(nonatomic, readonly) NSInteger width;
@property(nonatomic, readonly) NSInteger height;
@property(nonatomic, readonly) NSArray<DLSClassCount *> *present;
@property(nonatomic, readonly) double preprocessMs;
@property(nonatomic, readonly) double inferenceMs;
@property(nonatomic, readonly) double postprocessMs;
@end

@interface DLSSegmenter : NSObject
/// Reads the model card at cardPath and compiles the .tflite it names (same folder) for the accelerator;
/// on the CPU with `threads` threads (1 or more; ignored for the GPU). When the GPU fails, the core
/// (segcore::open_segmenter) compiles it for the CPU instead and `notice` says so.
/// Fails with the core's message for a bad card, a model outside the contract or a thread count below 1.
- (nullable instancetype)initWithCardPath:(NSString *)cardPath
                              accelerator:(DLSAccelerator)accelerator
                                  threads:(NSInteger)threads
                                    error:(NSError **)error NS_DESIGNATED_INITIALIZER;
- (instancetype)init NS_UNAVAILABLE;

@property(nonatomic, readonly, copy) NSString *modelName;
/// Where the model runs: the CPU after a GPU failure.
@property(nonatomic, readonly) DLSAccelerator runningAccelerator;
/// "GPU unavailable (...): running on the CPU" after a fallback, "GPU: part of the model runs on the CPU ..."
/// when LiteRT reports the GPU does not run it whole (segcore::Runner::fully_accelerated); nil otherwise.
@property(nonatomic, readonly, nullable, copy) NSString *notice;
/// "input 257x257 float32 · scores float32 · 21 classes"
@property(nonatomic, readonly, copy) NSString *summary;
/// The card's default resize is letterbox (keep the aspect ratio) rather than stretch.
@property(nonatomic, readonly) BOOL letterboxByDefault;

/// rgba: width * height * 4 bytes, rows without padding. only: the class filter (nil: every class coloured).
/// A gallery image: the overlay at image size (overlayRGBA, width x height of the image). A live camera frame
/// (`live`, segcore Segmenter::segment_live): overlayRGBA is only the mask of the image's part at model
/// resolution (width x height: its size), coloured, premultiplied RGBA with alpha `opacity` (0 outside the
/// filter), for the preview to scale over the camera picture.
- (nullable DLSResult *)segmentRGBA:(NSData *)rgba
                              width:(NSInteger)width
                             height:(NSInteger)height
                          letterbox:(BOOL)letterbox
                            opacity:(NSInteger)opacity
                               only:(nullable NSArray<NSNumber *> *)only
                               live:(BOOL)live
                              error:(NSError **)error;

/// The overlay of the last segmented image at a new opacity, without running the model; nil before any.
/// The mask is kept with the model that made it (segcore::LabelledMask): segcore::recolour refuses another card.
- (nullable NSData *)overlayWithOpacity:(NSInteger)opacity only:(nullable NSArray<NSNumber *> *)only;

/// The last image where its mask holds one of `classes`, transparent elsewhere (RGBA, straight alpha
/// 0 or 255): background removal (segcore::cutout). nil before any image.
- (nullable NSData *)cutoutKeeping:(NSArray<NSNumber *> *)classes NS_SWIFT_NAME(cutout(keeping:));

/// The last image's mask itself (RGBA at image size, each class in its card colour, opaque): what a user saves
/// or shares as "the mask" (segcore::mask_colours). nil before any image.
- (nullable NSData *)maskColours NS_SWIFT_NAME(maskColours());
@end

/// The class filter of each model (segcore::ClassFilters, tested by ctest app_logic): it survives model switches,
/// and a filter chosen for one model never applies to another.
@interface DLSClassFilters : NSObject
/// The filter of the segmenter's model; nil when every class is coloured.
- (nullable NSArray<NSNumber *> *)filterFor:(DLSSegmenter *)segmenter NS_SWIFT_NAME(filter(for:));
/// A class switched on or off for the segmenter's model (ids outside the card are ignored).
- (void)toggleClass:(NSInteger)classId for:(DLSSegmenter *)segmenter NS_SWIFT_NAME(toggle(classId:for:));
/// What a cut-out keeps: the filter, or every class but "background".
- (NSArray<NSNumber *> *)cutoutClassesFor:(DLSSegmenter *)segmenter NS_SWIFT_NAME(cutoutClasses(for:));
@end

/// Frames per second and mean inference time of the last 30 frames (segcore::RateMeter).
@interface DLSRateMeter : NSObject
- (void)addFrameEndingAt:(int64_t)endNanos inferenceMs:(double)inferenceMs NS_SWIFT_NAME(add(endNanos:inferenceMs:));
@property(nonatomic, readonly, nullable) NSNumber *fps;
@property(nonatomic, readonly, nullable) NSNumber *meanInferenceMs;
- (void)reset;
@end

NS_ASSUME_NONNULL_END
