"""The ground floor: the files one stage writes and the next reads.

files.py (the one atomic writer: bytes, text, JSON, npz), model_dir.py (``ModelDir``: a run
folder's layout and the best-else-latest checkpoint rule), model_card.py (the JSON beside each
.tflite that the apps read), modes.py (typed modes), errors.py (errors naming the argument or
config key to fix, shown as flags by the CLIs). It imports no other package of deeplab_tf.
"""
