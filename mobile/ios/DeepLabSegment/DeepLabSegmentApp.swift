import SwiftUI

/// The single-screen app: live camera or a gallery image, segmented by a model from the bundle's Models folder.
@main
struct DeepLabSegmentApp: App {
    @StateObject private var model = SegmentationViewModel()

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(model)
                .preferredColorScheme(.dark)
        }
    }
}
