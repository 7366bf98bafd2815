/* The matcher's inner loops in C. bot/query/gather.py holds the Python reference of each, which says
 * what it does; the tests hold the two to the same results.
 *
 * gather(present, sequences, vocabulary, leaders, pair_filter, pair_bits, proven, candidates)
 *     Adds to `proven` (a set) the keys, and to `candidates` (a dict) the entries with their
 *     checks, of every posting the paper reaches. The layout is bot.query.postings's: a vocable is
 *     (own, partners, partner hashes), a leader (followers, title followers, abstract
 *     followers); a posting is a dict of key -> None and entry -> checks.
 * merge(postings, proven, candidates)
 *     The same for a list of postings.
 * evaluate(candidates, present, upvotes) -> (matched, pending)
 *     The candidates whose checks hold, split by whether they have more to test.
 * wildcards(words, table, shortest) -> set
 *     The wildcards that start the words, from a table that fills itself (__missing__).
 *
 * gather, merge and evaluate only probe dictionaries and sets of str, int and identity-hashed
 * keys: no Python code runs during them, so the tables they read cannot change under their
 * loops (they hold borrowed references). Only the public C API is used, and one field of
 * CPython's dict struct (ma_keys) as an address to prefetch, never read through.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

/* bot.query.postings's rows: a vocable (own, partners, partner hashes) and a leader (followers of a
 * phrase of either field, of the title's own, of the abstract's own). */
#define ROW 3
#define VOCABLE_IS "a vocable is (own, partners, partner hashes)"
#define LEADER_IS "a leader is (followers, title followers, abstract followers)"

/* Add a posting's keys (its items mapped to None) to `proven`, and its entries (mapped to their
 * checks) to `candidates`. */
static int
merge_one(PyObject *posting, PyObject *proven, PyObject *candidates)
{
    if (!PyDict_Check(posting)) {
        PyErr_SetString(PyExc_TypeError, "a posting is a dict");
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *item, *checks;
    while (PyDict_Next(posting, &pos, &item, &checks)) {
        if (checks == Py_None ? PySet_Add(proven, item) < 0
                              : PyDict_SetItem(candidates, item, checks) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Merge the posting under `key` in `table`, if there is one. */
static int
merge_at(PyObject *table, PyObject *key, PyObject *proven, PyObject *candidates)
{
    PyObject *posting = PyDict_GetItemWithError(table, key); /* borrowed */
    if (posting == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return merge_one(posting, proven, candidates);
}

/* The paper's present words by hash, for testing a partner's packed hash without reading the
 * partner's string: open addressing, `size` a power of two at least twice the words. */
typedef struct {
    Py_ssize_t size;
    Py_hash_t *hashes;
    PyObject **words; /* borrowed from `present`; NULL marks an empty slot */
} Words;

static int
words_fill(Words *table, PyObject *present)
{
    Py_ssize_t size = 64;
    while (size < 2 * PySet_GET_SIZE(present)) {
        size *= 2;
    }
    table->size = size;
    table->hashes = PyMem_Calloc((size_t)size, sizeof(Py_hash_t));
    table->words = PyMem_Calloc((size_t)size, sizeof(PyObject *));
    if (table->hashes == NULL || table->words == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *iterator = PyObject_GetIter(present), *word;
    if (iterator == NULL) {
        return -1;
    }
    while ((word = PyIter_Next(iterator)) != NULL) {
        Py_hash_t hash = PyObject_Hash(word);
        if (hash == -1) {
            Py_DECREF(word);
            Py_DECREF(iterator);
            return -1;
        }
        Py_ssize_t i = (Py_ssize_t)((size_t)hash & (size_t)(size - 1));
        while (table->words[i] != NULL) {
            i = (i + 1) & (size - 1);
        }
        table->hashes[i] = hash;
        table->words[i] = word; /* present holds it */
        Py_DECREF(word);
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

static void
words_free(Words *table)
{
    PyMem_Free(table->hashes);
    PyMem_Free(table->words);
}

/* Merge the posting under each present word whose hash is `hash` (most hashes find none). */
static int
merge_hashed(Words *table, Py_hash_t hash, PyObject *partners, PyObject *proven,
             PyObject *candidates)
{
    Py_ssize_t mask = table->size - 1, i = (Py_ssize_t)((size_t)hash & (size_t)mask);
    for (; table->words[i] != NULL; i = (i + 1) & mask) {
        if (table->hashes[i] == hash &&
            merge_at(partners, table->words[i], proven, candidates) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The postings of the partners of one word that are in the paper: their packed hashes
 * (`hashes`, bytes of int64) tested against `present`, and only those found looked up. */
static int
merge_partners(PyObject *partners, PyObject *hashes, Words *present, PyObject *proven,
               PyObject *candidates)
{
    if (!PyDict_Check(partners) || !PyBytes_Check(hashes) ||
        PyBytes_GET_SIZE(hashes) != PyDict_GET_SIZE(partners) * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_TypeError, "a vocable's partners are a dict with its hashes");
        return -1;
    }
    const char *packed = PyBytes_AS_STRING(hashes);
    for (Py_ssize_t k = 0; k < PyDict_GET_SIZE(partners); k++) {
        int64_t hash;
        memcpy(&hash, packed + k * (Py_ssize_t)sizeof(int64_t), sizeof hash);
        if (merge_hashed(present, (Py_hash_t)hash, partners, proven, candidates) < 0) {
            return -1;
        }
    }
    return 0;
}

/* One present word's vocable: its own posting, and its partners in the paper (followers are
 * read by merge_pairs). */
static int
visit(PyObject *vocable, Words *present, PyObject *proven, PyObject *candidates)
{
    if (!PyTuple_Check(vocable) || PyTuple_GET_SIZE(vocable) != ROW) {
        PyErr_SetString(PyExc_TypeError, VOCABLE_IS);
        return -1;
    }
    PyObject *own = PyTuple_GET_ITEM(vocable, 0);
    PyObject *partners = PyTuple_GET_ITEM(vocable, 1);
    if (own != Py_None && merge_one(own, proven, candidates) < 0) {
        return -1;
    }
    if (partners != Py_None &&
        merge_partners(partners, PyTuple_GET_ITEM(vocable, 2), present, proven, candidates) < 0) {
        return -1;
    }
    return 0;
}

/* The slot of the pair (first, second) in the pair filter: bot.query.postings.pair_slot. */
static int
pair_slot(PyObject *first, PyObject *second, int bits, Py_ssize_t *slot)
{
    Py_hash_t a = PyObject_Hash(first), b = PyObject_Hash(second);
    if (a == -1 || b == -1) {
        return -1;
    }
    uint64_t mixed = ((uint64_t)a * UINT64_C(0x9E3779B97F4A7C15)) ^ (uint64_t)b;
    *slot = (Py_ssize_t)((mixed * UINT64_C(0xC2B2AE3D27D4EB4F)) >> (64 - bits));
    return 0;
}

/* The postings of the adjacent pairs of `keys` (a tuple of words: the title's when `field` is
 * 0, the abstract's when 1) that are anchors: each pair the filter lets through is looked up
 * in its first word's followers, those of either field and those of this field alone. */
static int
merge_pairs(PyObject *keys, Py_ssize_t field, PyObject *leaders, const unsigned char *filter,
            int bits, PyObject *proven, PyObject *candidates)
{
    if (!PyTuple_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "each sequence is a tuple of words");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(keys), slot;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        PyObject *first = PyTuple_GET_ITEM(keys, i), *second = PyTuple_GET_ITEM(keys, i + 1);
        if (pair_slot(first, second, bits, &slot) < 0) {
            return -1;
        }
        if (!filter[slot]) {
            continue;
        }
        PyObject *leader = PyDict_GetItemWithError(leaders, first); /* borrowed */
        if (leader == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            continue;
        }
        if (!PyTuple_Check(leader) || PyTuple_GET_SIZE(leader) != ROW) {
            PyErr_SetString(PyExc_TypeError, LEADER_IS);
            return -1;
        }
        PyObject *tables[2] = {PyTuple_GET_ITEM(leader, 0), PyTuple_GET_ITEM(leader, 1 + field)};
        for (int t = 0; t < 2; t++) {
            if (tables[t] == Py_None) {
                continue;
            }
            if (!PyDict_Check(tables[t])) {
                PyErr_SetString(PyExc_TypeError, "a leader's followers are a dict or None");
                return -1;
            }
            if (merge_at(tables[t], second, proven, candidates) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static PyObject *
gather(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "gather(present, sequences, vocabulary, leaders, "
                                         "pair_filter, pair_bits, proven, candidates)");
        return NULL;
    }
    PyObject *present = args[0], *sequences = args[1], *vocabulary = args[2], *leaders = args[3],
             *filter = args[4], *proven = args[6], *candidates = args[7];
    long bits = PyLong_Check(args[5]) ? PyLong_AsLong(args[5]) : -1;
    if (!PyAnySet_Check(present) || !PyTuple_Check(sequences) || !PyDict_Check(vocabulary) ||
        !PyDict_Check(leaders) || !PyByteArray_Check(filter) || bits < 1 || bits > 32 ||
        PyByteArray_GET_SIZE(filter) != ((Py_ssize_t)1 << bits) || !PySet_Check(proven) ||
        !PyDict_Check(candidates)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "gather(frozenset, tuple, dict, dict, bytearray of "
                                         "2**bits, bits, set, dict) expected");
        return NULL;
    }
    if (PyTuple_GET_SIZE(sequences) > 2) {
        PyErr_SetString(PyExc_TypeError, "sequences are the title's keys and the abstract's");
        return NULL;
    }
    Words table = {0, NULL, NULL};
    if (words_fill(&table, present) < 0) {
        words_free(&table);
        return NULL;
    }
    /* Every word is looked up first, and what each lookup finds is prefetched before any is
     * visited: the reads of many vocables and their postings, most of them cache misses, then
     * overlap instead of each waiting for the one before. */
    PyObject **vocables = PyMem_Malloc((size_t)table.size * sizeof(PyObject *)); /* borrowed */
    Py_ssize_t count = 0;
    int failed = vocables == NULL;
    for (Py_ssize_t i = 0; !failed && i < table.size; i++) {
        if (table.words[i] != NULL) {
            PyObject *vocable = PyDict_GetItemWithError(vocabulary, table.words[i]);
            failed = vocable == NULL && PyErr_Occurred() != NULL;
            if (vocable != NULL) {
                PREFETCH(vocable);
                vocables[count++] = vocable;
            }
        }
    }
    for (Py_ssize_t k = 0; !failed && k < count; k++) {
        if (PyTuple_Check(vocables[k]) && PyTuple_GET_SIZE(vocables[k]) == ROW) {
            PREFETCH(PyTuple_GET_ITEM(vocables[k], 0));
            PREFETCH(PyTuple_GET_ITEM(vocables[k], 2));
        }
    }
    for (Py_ssize_t k = 0; !failed && k < count; k++) { /* then the own postings' tables */
        if (PyTuple_Check(vocables[k]) && PyTuple_GET_SIZE(vocables[k]) == ROW &&
            PyDict_Check(PyTuple_GET_ITEM(vocables[k], 0))) {
            PREFETCH(((PyDictObject *)PyTuple_GET_ITEM(vocables[k], 0))->ma_keys);
        }
    }
    for (Py_ssize_t k = 0; !failed && k < count; k++) {
        failed = visit(vocables[k], &table, proven, candidates) < 0;
    }
    PyMem_Free(vocables);
    words_free(&table);
    if (failed) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return NULL;
    }
    const unsigned char *bytes = (const unsigned char *)PyByteArray_AS_STRING(filter);
    for (Py_ssize_t s = 0; s < PyTuple_GET_SIZE(sequences); s++) {
        if (merge_pairs(PyTuple_GET_ITEM(sequences, s), s, leaders, bytes, (int)bits, proven,
                        candidates) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* 1 if some item of the tuple `items` is in `present` (when `in` is 1) or is not (when `in` is
 * 0), 0 if none is, -1 on error. */
static int
some(PyObject *present, PyObject *items, int in)
{
    if (!PyTuple_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "a check is a tuple of words");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        int found = PySet_Contains(present, PyTuple_GET_ITEM(items, i));
        if (found < 0 || found == in) {
            return found < 0 ? -1 : 1;
        }
    }
    return 0;
}

/* 1 if the checks (required, forbidden, groups, lowest, highest, more) hold for `present` and
 * `upvotes`, 0 if not, -1 on error. */
static int
holds(PyObject *checks, PyObject *present, long long upvotes)
{
    if (!PyTuple_Check(checks) || PyTuple_GET_SIZE(checks) != 6 ||
        !PyTuple_Check(PyTuple_GET_ITEM(checks, 2)) || !PyLong_Check(PyTuple_GET_ITEM(checks, 3)) ||
        !PyLong_Check(PyTuple_GET_ITEM(checks, 4))) {
        PyErr_SetString(PyExc_TypeError,
                        "checks are (required, forbidden, groups, lowest, highest, more)");
        return -1;
    }
    long long lowest = PyLong_AsLongLong(PyTuple_GET_ITEM(checks, 3));
    long long highest = PyLong_AsLongLong(PyTuple_GET_ITEM(checks, 4));
    if ((lowest == -1 || highest == -1) && PyErr_Occurred()) {
        return -1;
    }
    if (upvotes < lowest || upvotes > highest) {
        return 0;
    }
    int missing = some(present, PyTuple_GET_ITEM(checks, 0), 0); /* a required word absent */
    int banned = missing ? 0 : some(present, PyTuple_GET_ITEM(checks, 1), 1);
    if (missing || banned) {
        return missing < 0 || banned < 0 ? -1 : 0;
    }
    PyObject *groups = PyTuple_GET_ITEM(checks, 2);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(groups); i++) {
        int met = some(present, PyTuple_GET_ITEM(groups, i), 1);
        if (met <= 0) {
            return met;
        }
    }
    return 1;
}

static PyObject *
evaluate(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyAnySet_Check(args[1]) ||
        !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "evaluate(dict, frozenset, int) expected");
        return NULL;
    }
    PyObject *candidates = args[0], *present = args[1];
    long long upvotes = PyLong_AsLongLong(args[2]);
    if (upvotes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *matched = PyList_New(0), *pending = PyList_New(0);
    if (matched == NULL || pending == NULL) {
        goto error;
    }
    Py_ssize_t pos = 0;
    PyObject *entry, *checks;
    while (PyDict_Next(candidates, &pos, &entry, &checks)) {
        int ok = holds(checks, present, upvotes);
        if (ok < 0) {
            goto error;
        }
        if (ok) {
            int more = PyObject_IsTrue(PyTuple_GET_ITEM(checks, 5));
            if (more < 0 || PyList_Append(more ? pending : matched, entry) < 0) {
                goto error;
            }
        }
    }
    return Py_BuildValue("(NN)", matched, pending);
error:
    Py_XDECREF(matched);
    Py_XDECREF(pending);
    return NULL;
}

/* wildcards(words, table, shortest) -> set: every wildcard table[w] gives for a w in words of
 * at least `shortest` characters. `table` is a dict (or a subclass whose __missing__ fills it)
 * of word -> tuple of wildcards. */
static PyObject *
wildcards(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_Check(args[0]) || !PyDict_Check(args[1]) ||
        !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "wildcards(tuple, dict, int) expected");
        return NULL;
    }
    PyObject *words = args[0], *table = args[1];
    Py_ssize_t shortest = PyLong_AsSsize_t(args[2]);
    if (shortest == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *out = PySet_New(NULL);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(words); i++) {
        PyObject *word = PyTuple_GET_ITEM(words, i);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "words are str");
            goto error;
        }
        if (PyUnicode_GET_LENGTH(word) < shortest) {
            continue;
        }
        PyObject *found = PyDict_GetItemWithError(table, word); /* borrowed */
        if (found != NULL) {
            Py_INCREF(found);
        }
        else if (PyErr_Occurred() || (found = PyObject_GetItem(table, word)) == NULL) {
            goto error; /* PyObject_GetItem: a word not seen yet, through __missing__ */
        }
        if (!PyTuple_Check(found)) {
            Py_DECREF(found);
            PyErr_SetString(PyExc_TypeError, "a word's wildcards are a tuple");
            goto error;
        }
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(found); j++) {
            if (PySet_Add(out, PyTuple_GET_ITEM(found, j)) < 0) {
                Py_DECREF(found);
                goto error;
            }
        }
        Py_DECREF(found);
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

/* merge(postings, proven, candidates) -> None: merge_one for each posting of a list. */
static PyObject *
merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PySet_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "merge(list, set, dict) expected");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(args[0]); i++) {
        if (merge_one(PyList_GET_ITEM(args[0], i), args[1], args[2]) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"gather", (PyCFunction)(void (*)(void))gather, METH_FASTCALL,
     "gather(present, sequences, vocabulary, leaders, pair_filter, pair_bits, proven, "
     "candidates)"
     " -> None\n\n"
     "What bot.query.gather.gather_python does, in C."},
    {"evaluate", (PyCFunction)(void (*)(void))evaluate, METH_FASTCALL,
     "evaluate(candidates, present, upvotes) -> (matched, pending)\n\n"
     "What bot.query.gather.evaluate_python does, in C."},
    {"merge", (PyCFunction)(void (*)(void))merge, METH_FASTCALL,
     "merge(postings, proven, candidates) -> None\n\nWhat bot.query.gather.merge_python does, in C."},
    {"wildcards", (PyCFunction)(void (*)(void))wildcards, METH_FASTCALL,
     "wildcards(words, table, shortest) -> set\n\nWhat bot.query.gather.wildcards_python does, in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bot.query._gather", "The index's inner step in C (see bot.query.gather).", 0,
    methods,
};

PyMODINIT_FUNC
PyInit__gather(void)
{
    return PyModule_Create(&module);
}
