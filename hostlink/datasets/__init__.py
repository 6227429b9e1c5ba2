"""Data for the gaze and segmentation models: synthetic generators and real-dataset loaders.

Numpy and OpenCV only, so the runtime and the demos use them without TensorFlow.
"""
