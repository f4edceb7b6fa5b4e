// Exposes the Objective-C++ bridge to Swift.
#import "SegmenterBridge.h"
