"""deeplab_tf: DeepLab v3/v3+ in TensorFlow/Keras 2, from a dataset to an int8 TFLite model on a phone."""

from setuptools import find_packages, setup

setup(
    name="deeplab_tf",
    version="0.1.0",
    description="DeepLab v3/v3+ semantic segmentation in TF2/Keras 2 with QAT and int8 TFLite export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["deeplab_tf", "deeplab_tf.*"]),
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "tensorflow-model-optimization==0.8.*",
        "keras-cv==0.9.*",
        "ai-edge-litert==2.3.*",
        "flatbuffers>=25.9.23",  # TFLite metadata (export/metadata.py); tensorflow 2.21 asks the same
        "opencv-python-headless>=4.9,<6",
        "absl-py>=1.4,<2",
        "numpy>=1.26,<3",
        "tensorboard>=2.20,<3",
        # deeplab-serve (deeplab_tf/serving/): HTTP, TF Serving's gRPC protos, metrics, lazy image headers
        "aiohttp>=3.9,<4",
        "grpcio>=1.60,<2",
        "tensorflow-serving-api==2.21.*",
        "prometheus-client>=0.20,<1",
        "pillow>=10,<14",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "ruff>=0.6,<1",
            # mobile/ sources parse checks (tests/mobile/test_android.py, test_ios.py)
            "tree-sitter>=0.25,<0.26",
            "tree-sitter-kotlin==1.1.*",
            "tree-sitter-swift==0.7.*",
        ],
    },
    entry_points={
        "console_scripts": [
            "deeplab-info=deeplab_tf.cli.info:run",
            "deeplab-convert=deeplab_tf.cli.convert:run",
            "deeplab-train=deeplab_tf.cli.train:run",
            "deeplab-bench=deeplab_tf.cli.bench:run",
            "deeplab-eval=deeplab_tf.cli.eval:run",
            "deeplab-predict=deeplab_tf.cli.predict:run",
            "deeplab-export=deeplab_tf.cli.export:run",
            "deeplab-demo=deeplab_tf.cli.demo:run",
            "deeplab-import=deeplab_tf.cli.import_weights:run",
            "deeplab-serve=deeplab_tf.cli.serve:run",
        ],
    },
)
