// swift-tools-version:5.7
// Swift binding of opik-attachments: a system-library target over the installed C library (found
// through pkg-config: `make install PREFIX=...` in the repository root, then point
// PKG_CONFIG_PATH at <prefix>/lib/pkgconfig) and a thin Swift wrapper.
import PackageDescription

let package = Package(
    name: "OpikAttachments",
    products: [
        .library(name: "OpikAttachments", targets: ["OpikAttachments"]),
    ],
    targets: [
        .systemLibrary(
            name: "COpikAttachments",
            pkgConfig: "opik_attachments"
        ),
        .target(name: "OpikAttachments", dependencies: ["COpikAttachments"]),
        .testTarget(name: "OpikAttachmentsTests", dependencies: ["OpikAttachments"]),
    ]
)
