/* The engine's one C++ file: a RocksDB info logger that writes nothing.
 *
 * RocksDB writes a LOG file in the state directory, and DB::Open writes
 * its header lines (a file summary) whatever the info log level. Its
 * writer ignores a failed write and asserts on the next one, and Debian's
 * librocksdb keeps its asserts: a disk filled by another process aborted
 * coco inside DB::Open (diskfull_spec). Everything that matters comes back
 * to coco as a status; the LOG is not needed. RocksDB 7.8's C API cannot
 * make a logger, so this file does, behind one C function. */
#include <rocksdb/c.h>
#include <rocksdb/env.h>

#include <cstdarg>
#include <memory>

/* As RocksDB's c.cc declares it (unchanged since the C API began; newer
 * releases add rocksdb_logger_create_callback_logger for this). */
struct rocksdb_logger_t {
	std::shared_ptr<rocksdb::Logger> rep;
};

namespace {

class NoLogger : public rocksdb::Logger {
public:
	NoLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::HEADER_LEVEL) {}
	using rocksdb::Logger::Logv;
	void Logv(const char *, va_list) override {}
};

}

extern "C" void coco_rocksdb_set_no_log(rocksdb_options_t *o)
{
	rocksdb_logger_t l{std::make_shared<NoLogger>()};
	rocksdb_options_set_info_log(o, &l);   /* copies the shared pointer */
}
