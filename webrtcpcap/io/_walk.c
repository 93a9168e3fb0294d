/* The record walk of io/reader.py and the window copy of io/buffer.py at compiled speed, without the GIL.  Optional:
   without a compiler the package installs without it and the same steps run in Python and numpy, with equal
   results (tests/test_reader.py holds them equal). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static inline uint32_t u32(const unsigned char *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
                  : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* walk(buf, out, pos, end, pcap, little, max_len) -> (count, pos): record starts written to `out` (int64). */
static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer buf, out;
    long long pos, end, max_len;
    int pcap, little;
    if (!PyArg_ParseTuple(args, "y*w*LLppL", &buf, &out, &pos, &end, &pcap, &little, &max_len)) return NULL;
    if (end > buf.len) end = buf.len;
    const unsigned char *b = buf.buf;
    int64_t *o = out.buf;
    Py_ssize_t cap = out.len / (Py_ssize_t)sizeof(int64_t), n = 0;
    Py_BEGIN_ALLOW_THREADS
    if (pcap) {
        while (n < cap && pos >= 0 && pos + 16 <= end) {
            long long incl = u32(b + pos + 8, little), nxt = pos + 16 + incl;
            if (nxt > end || incl > max_len) break;
            o[n++] = pos;
            pos = nxt;
        }
    } else {
        while (n < cap && pos >= 0 && pos + 12 <= end) {
            uint32_t btype = u32(b + pos, little);
            long long blen = u32(b + pos + 4, little);
            if (btype == 0x0A0D0D0A || btype == 1) break;  /* section and interface blocks: Python reads them */
            if (blen < 12 || blen % 4 || blen > max_len || pos + blen > end) break;
            if (btype == 6 || btype == 3 || btype == 2) o[n++] = pos;
            pos += blen;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out);
    return Py_BuildValue("nL", n, pos);
}

/* windows(main, starts, out): out[i] = the `out` row width of bytes of `main` from starts[i] (int64), for rows
   that lie wholly inside `main` (the caller checks; a row that does not is left as it is). */
static PyObject *windows(PyObject *self, PyObject *args) {
    Py_buffer main, starts, out;
    if (!PyArg_ParseTuple(args, "y*y*w*", &main, &starts, &out)) return NULL;
    Py_ssize_t n = starts.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t width = n ? out.len / n : 0;
    const unsigned char *m = main.buf;
    const int64_t *at = starts.buf;
    unsigned char *o = out.buf;
    if (n && out.len == n * width) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            if (at[i] >= 0 && at[i] + width <= main.len) memcpy(o + i * width, m + at[i], (size_t)width);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&main);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"walk", walk, METH_VARARGS, "Record starts, as far as the records are plain."},
                                {"windows", windows, METH_VARARGS, "The first bytes of many records, copied."},
                                {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};
PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
