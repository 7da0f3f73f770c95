"""256-bit vectors for numba kernels: eight float32 or four float64 lanes, as LLVM values.

numba has no vector type, and its loop vectoriser keeps no accumulator in a
register from one loop iteration to the next; a GEMM micro-kernel needs twelve
of them (``_gemm_kernels``). These intrinsics emit LLVM's ``<8 x float>`` and
``<4 x double>`` directly, so LLVM keeps each value in one register (``ymm``
with AVX2; two SSE or NEON registers elsewhere, still correct).

Every index is a flat element offset from the array's first element; nothing
is bounds-checked, so the caller keeps every lane inside the array.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

BITS = 256


class Vec(types.Type):
    """A register of ``BITS // (8 * itemsize)`` lanes of one float dtype."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = BITS // dtype.bitwidth
        super().__init__(name=f"vec({dtype}x{self.lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _ir_type(fe_type))


_VECS = {types.float32: Vec(types.float32), types.float64: Vec(types.float64)}
_I32 = ir.IntType(32)


def _ir_type(vec):
    scalar = ir.FloatType() if vec.dtype == types.float32 else ir.DoubleType()
    return ir.VectorType(scalar, vec.lanes)


def _vec_of(arr):
    """The vector type of ``arr``'s dtype, or None for arrays of other dtypes (a typing error)."""
    return _VECS.get(getattr(arr, "dtype", None))


def _address(context, builder, aryty, ary, idx):
    """The address of element ``idx`` counted from the array's first element."""
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [idx])


def _vector_address(context, builder, sig, args, vec):
    """The address of ``arr.flat[idx]`` (the first two arguments) as a pointer to a whole vector."""
    return builder.bitcast(_address(context, builder, sig.args[0], args[0], args[1]), _ir_type(vec).as_pointer())


@intrinsic
def vload(typingctx, arr, idx):
    """The ``lanes`` elements ``arr.flat[idx:idx + lanes]``."""
    vec = _vec_of(arr)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_vector_address(context, builder, sig, args, vec), align=vec.dtype.bitwidth // 8)
    return vec(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, value):
    """``arr.flat[idx:idx + lanes] = value``."""
    vec = _vec_of(arr)
    if vec is None or value != vec:
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _vector_address(context, builder, sig, args, vec), align=vec.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(arr, idx, value), codegen


@intrinsic
def vsplat(typingctx, arr, idx):
    """``arr.flat[idx]`` in every lane (one broadcast load)."""
    vec = _vec_of(arr)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        scalar = builder.load(_address(context, builder, sig.args[0], args[0], args[1]))
        vty = _ir_type(vec)
        one = builder.insert_element(ir.Constant(vty, ir.Undefined), scalar, ir.Constant(_I32, 0))
        return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined),
                                      ir.Constant(ir.VectorType(_I32, vec.lanes), [0] * vec.lanes))
    return vec(arr, idx), codegen


@intrinsic
def vzeros(typingctx, arr):
    """A vector of zeros of ``arr``'s dtype."""
    vec = _vec_of(arr)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(_ir_type(vec), [0.0] * vec.lanes)
    return vec(arr), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, one rounding (``llvm.fma``)."""
    if not isinstance(a, Vec) or a != b or a != c:
        return None

    def codegen(context, builder, sig, args):
        vty = _ir_type(a)
        suffix = f"v{a.lanes}f{a.dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{suffix}")
        return builder.call(fn, args)
    return a(a, b, c), codegen


@intrinsic
def lanes(typingctx, arr):
    """The lanes of a vector of ``arr``'s dtype, a compile-time constant."""
    vec = _vec_of(arr)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        return ir.Constant(ir.IntType(64), vec.lanes)
    return types.int64(arr), codegen
