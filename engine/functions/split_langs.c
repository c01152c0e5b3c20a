/* The built-in code languages of SplitRecursively: names, aliases (other
 * names and file extensions, the same as DetectProgrammingLanguage's) and
 * how their lines are read. Markdown and plain text are in
 * split_recursively.c. To add a language, add a row. */
#include "engine/functions/split_int.h"

#define A(...) (const char *const[]){ __VA_ARGS__, NULL }

static const char *const py_closers[] = { "else", "elif", "except", "finally", NULL };
static const char *const rb_closers[] = { "end", "else", "elsif", "when", "rescue", "ensure", NULL };
static const char *const lua_closers[] = { "end", "else", "elseif", "until", NULL };
static const char *const sh_closers[] = { "fi", "done", "esac", "else", "elif", "then", "do", ";;", NULL };
static const char *const brace_closers[] = { "else", "catch", "finally", NULL };

#define C_LIKE (CL_SLASH | CL_STRICT)

const split_code_lang split_code_langs[] = {
	{ "c", A("h"), C_LIKE | CL_PREPROC, brace_closers },
	{ "cpp", A("c++", "cc", "cxx", "cp", "cppm", "hpp", "hh", "hxx", "h++", "inl", "ipp", "ixx",
		"tcc", "tpp", "txx"), C_LIKE | CL_PREPROC, brace_closers },
	{ "csharp", A("c#", "cs", "csx", "cake", "linq"), C_LIKE | CL_PREPROC | CL_ATTR | CL_TRIPLE_DQ,
		brace_closers },
	{ "css", A("scss", "less"), C_LIKE, NULL },
	{ "go", A("golang"), CL_SLASH | CL_BACKTICK, brace_closers },
	{ "html", A("htm", "hta", "xht", "xhtml"), CL_MARKUP, NULL },
	{ "java", A("jav", "jsh"), C_LIKE | CL_TRIPLE_DQ, brace_closers },
	{ "javascript", A("js", "mjs", "cjs", "jsx", "es6", "jsm"), CL_SLASH | CL_BACKTICK, brace_closers },
	{ "json", A("jsonl", "geojson", "topojson", "webmanifest", "har", "avsc", "gltf", "mcmeta",
		"sarif", "json5"), 0, NULL },
	{ "kotlin", A("kt", "kts", "ktm"), CL_SLASH | CL_TRIPLE_DQ, brace_closers },
	{ "php", A("phtml"), C_LIKE | CL_HASH, brace_closers },
	{ "python", A("py", "pyi", "pyw", "pyx", "pxd", "pxi"), CL_HASH | CL_TRIPLE, py_closers },
	{ "r", A("rscript"), CL_HASH, brace_closers },
	{ "ruby", A("rb", "rake", "gemspec"), CL_HASH, rb_closers },
	{ "rust", A("rs"), C_LIKE, brace_closers },
	{ "scala", A("sc", "sbt"), CL_SLASH | CL_TRIPLE_DQ, brace_closers },
	{ "solidity", A("sol"), C_LIKE, brace_closers },
	{ "sql", A("psql", "pgsql", "mysql", "sqlite"), CL_DASH | CL_SLASH | CL_STRICT, NULL },
	{ "swift", A("swift"), CL_SLASH | CL_TRIPLE_DQ, brace_closers },
	{ "toml", A("tml"), CL_HASH | CL_TRIPLE | CL_SECTIONS, NULL },
	{ "tsx", A("tsx"), CL_SLASH | CL_BACKTICK, brace_closers },
	{ "typescript", A("ts", "mts", "cts"), CL_SLASH | CL_BACKTICK, brace_closers },
	{ "xml", A("xsd", "xsl", "xslt", "svg", "plist", "pom", "csproj", "rss", "atom"), CL_MARKUP, NULL },
	{ "dtd", A("ent", "mod"), CL_MARKUP, NULL },
	{ "yaml", A("yml"), CL_HASH, NULL },
	{ "lua", A("lua"), CL_DASH, lua_closers },
	{ "shell", A("sh", "bash", "zsh", "ksh"), CL_HASH, sh_closers },
};

const size_t split_code_nlangs = SPLIT_NELEM(split_code_langs);
