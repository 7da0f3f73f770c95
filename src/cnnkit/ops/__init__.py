"""The ops: every hand-written gradient in cnnkit lives in this package, one file per family."""
from cnnkit.ops.elementwise import abs, add, div, exp, log, mul, neg, pow, sqrt, sub  # noqa: A004
from cnnkit.ops.linalg import linear, matmul
from cnnkit.ops.reduce import max, mean, sum  # noqa: A004
from cnnkit.ops.shape import concat, flatten, getitem, reshape, transpose
from cnnkit.ops import tensor_methods  # noqa: E402,F401  (gives Tensor its operators)
