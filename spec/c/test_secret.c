/* coco_redact: passwords in URLs and key=value strings become ***; the
 * rest of the string is kept as it was. coco_pg_conninfo_store: the
 * stored form has no password, and the password is remembered for it. */
#include <stdlib.h>
#include <string.h>
#include "engine/secret.h"
#include "connectors/common/pgconn.h"
#include "spec/c/check.h"

static void redacts(const char *in, const char *want)
{
	coco_buf b = {0};
	coco_redact(in, &b);
	CHECK_STR(b.p, want);
	CHECK(coco_has_secret(in) == (strcmp(in, want) != 0));
	coco_buf_free(&b);
}

int main(void)
{
	redacts("", "");
	redacts("postgres://u:PW@host/db", "postgres://u:***@host/db");
	redacts("postgres://u@host/db", "postgres://u@host/db");
	redacts("postgresql://u:p%40w@h:5432/db?sslmode=require&password=X2",
		"postgresql://u:***@h:5432/db?sslmode=require&password=***");
	redacts("postgres://u:a:b@c@h/db", "postgres://u:***@h/db");
	redacts("http://h/x?sig=abc&sp=r#f", "http://h/x?sig=***&sp=r#f");
	redacts("host=h password='x y\\' z' user=u", "host=h password=*** user=u");
	redacts("host=h password = abc dbname=x", "host=h password =*** dbname=x");
	redacts("sslpassword=zz port=1", "sslpassword=*** port=1");
	redacts("password=", "password=");
	redacts("mypassword=x", "mypassword=***");
	redacts("passwordless=x", "passwordless=x");
	redacts("a=b c://d", "a=b c://d");
	redacts("https://api.example.com/v1", "https://api.example.com/v1");

	coco_buf out = {0};
	char *err = NULL, *pw = NULL;
	CHECK(coco_pg_conninfo_store("postgres://u:PW1@h:5/db", &out, "Postgres", &err) == 0);
	CHECK_STR(out.p, "user='u' dbname='db' host='h' port='5'");
	CHECK(coco_pg_password(out.p, NULL, "Postgres", &pw, &err) == 0);
	CHECK_STR(pw, "PW1");
	free(pw);
	CHECK(coco_pg_conninfo_store("host=h dbname=db", &out, "Postgres", &err) == 0);
	CHECK_STR(out.p, "host=h dbname=db");
	CHECK(coco_pg_password(out.p, NULL, "Postgres", &pw, &err) == 0 && !pw);
	CHECK(coco_pg_password(out.p, "COCO_TEST_NO_SUCH_VAR", "Postgres", &pw, &err) < 0);
	CHECK(err && strstr(err, "COCO_TEST_NO_SUCH_VAR (password_env) is not set"));
	free(err);
	err = NULL;
	CHECK(coco_pg_conninfo_store("host=h password=PW2 nonsense=1", &out, "Postgres", &err) < 0);
	CHECK(err && !strstr(err, "PW2"));
	free(err);
	coco_buf_free(&out);
	return CHECK_DONE();
}
