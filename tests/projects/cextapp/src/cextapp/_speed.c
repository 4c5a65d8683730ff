/* A tiny extension module: the answer, and the Python it was compiled for. */
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }

static PyObject *built_for(PyObject *self, PyObject *args) {
    return PyUnicode_FromFormat("%d.%d", PY_MAJOR_VERSION, PY_MINOR_VERSION);
}

static PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "The answer."},
    {"built_for", built_for, METH_NOARGS, "The Python version this module was compiled for."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
