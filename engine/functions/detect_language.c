/* DetectProgrammingLanguage: the language of a file from its extension,
 * with CocoIndex's language names ("rust", "python", "markdown", ...). */
#include <string.h>
#include <strings.h>

#include "engine/ops.h"

typedef struct lang_ext {
	const char *ext;              /* lower case, no dot */
	const char *lang;
} lang_ext;

static const lang_ext exts[] = {
	{ "c", "c" }, { "h", "c" },
	{ "cpp", "cpp" }, { "cc", "cpp" }, { "cxx", "cpp" }, { "c++", "cpp" }, { "cp", "cpp" },
	{ "cppm", "cpp" }, { "hpp", "cpp" }, { "hh", "cpp" }, { "hxx", "cpp" }, { "h++", "cpp" },
	{ "inl", "cpp" }, { "ipp", "cpp" }, { "ixx", "cpp" }, { "tcc", "cpp" }, { "tpp", "cpp" },
	{ "txx", "cpp" },
	{ "cs", "csharp" }, { "csx", "csharp" }, { "cake", "csharp" }, { "linq", "csharp" },
	{ "css", "css" }, { "scss", "css" },
	{ "dtd", "dtd" },
	{ "f", "fortran" }, { "f90", "fortran" }, { "f95", "fortran" }, { "f03", "fortran" },
	{ "go", "go" },
	{ "html", "html" }, { "htm", "html" }, { "hta", "html" }, { "xht", "html" }, { "xhtml", "html" },
	{ "java", "java" }, { "jav", "java" }, { "jsh", "java" },
	{ "js", "javascript" }, { "mjs", "javascript" }, { "cjs", "javascript" },
	{ "jsx", "javascript" }, { "es6", "javascript" }, { "jsm", "javascript" },
	{ "json", "json" }, { "jsonl", "json" }, { "geojson", "json" }, { "topojson", "json" },
	{ "webmanifest", "json" }, { "har", "json" }, { "avsc", "json" }, { "gltf", "json" },
	{ "mcmeta", "json" }, { "sarif", "json" },
	{ "kt", "kotlin" }, { "kts", "kotlin" }, { "ktm", "kotlin" },
	{ "md", "markdown" }, { "mdx", "markdown" }, { "markdown", "markdown" },
	{ "mdown", "markdown" }, { "mdwn", "markdown" }, { "mkd", "markdown" },
	{ "mkdn", "markdown" }, { "mkdown", "markdown" }, { "livemd", "markdown" },
	{ "ronn", "markdown" }, { "workbook", "markdown" },
	{ "pas", "pascal" }, { "dfm", "pascal" }, { "dpr", "pascal" }, { "lpr", "pascal" },
	{ "pascal", "pascal" },
	{ "php", "php" },
	{ "py", "python" }, { "pyi", "python" }, { "pyw", "python" }, { "pyx", "python" },
	{ "pxd", "python" }, { "pxi", "python" },
	{ "r", "r" },
	{ "rb", "ruby" },
	{ "rs", "rust" },
	{ "scala", "scala" },
	{ "sol", "solidity" },
	{ "sql", "sql" },
	{ "swift", "swift" },
	{ "toml", "toml" },
	{ "tsx", "tsx" },
	{ "ts", "typescript" }, { "mts", "typescript" }, { "cts", "typescript" },
	{ "xml", "xml" },
	{ "yaml", "yaml" }, { "yml", "yaml" },
	{ "txt", "text" },
};

/* The language of a file name (a path is fine), or NULL when its extension
 * is unknown. The extension is what follows the last '.' of the base name. */
static const char *detect(const char *s, size_t n)
{
	size_t b = n;
	while (b > 0 && s[b - 1] != '/' && s[b - 1] != '\\')
		b--;
	size_t dot = n;
	while (dot > b && s[dot - 1] != '.')
		dot--;
	if (dot == b)
		return NULL;
	const char *ext = s + dot;
	size_t len = n - dot;
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (strlen(exts[i].ext) == len && !strncasecmp(exts[i].ext, ext, len))
			return exts[i].lang;
	return NULL;
}

static const coco_argdef detect_args[] = {
	{ "filename", 1u << COCO_STR, 1 },
	{ NULL, 0, 0 },
};

static const coco_optdef detect_opts[] = {
	{ NULL, 0, 0, NULL },
};

/* prepare: the result is a str (null for unknown extensions). */
static int detect_prepare(const coco_optval *spec, void *udata, const coco_arg_info *args,
	size_t nargs, coco_arena *types, const coco_type **out, void **state, char **err)
{
	*out = &coco_t_str;
	*state = NULL;
	return 0;
}

/* call: args[0] is the file name; null in, null out. */
static int detect_call(void *state, const coco_value *args, size_t nargs, coco_arena *a,
	coco_value *out, char **err)
{
	*out = coco_v_null();
	if (nargs < 1 || args[0].kind == COCO_NULL)
		return 0;
	if (args[0].kind != COCO_STR)
		return coco_seterr(err, "DetectProgrammingLanguage: filename must be a string, got %s",
			coco_kind_name((coco_kind)args[0].kind));
	const char *lang = detect(args[0].u.s, args[0].n);
	if (lang)
		*out = coco_v_str(lang, strlen(lang));
	return 0;
}

/* DetectProgrammingLanguage(filename) -> str ("rust", "markdown", ...) or
 * null for an unknown extension. */
const coco_function_ops coco_fn_detect_language = {
	.name = "DetectProgrammingLanguage",
	.spec_opts = detect_opts,
	.args = detect_args,
	.prepare = detect_prepare,
	.call = detect_call,
};
