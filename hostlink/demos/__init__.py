"""The demos: a live gaze overlay, vessel segmentation and accuracy runs through any board.

Each demo is host code around one board call per frame: the host prepares the INT8 input exactly
as the model was trained (quantized with the input tensor's own scale and zero point), the board
(or its emulator) runs the model, and the host draws the result with the board's stage timings.
"""
