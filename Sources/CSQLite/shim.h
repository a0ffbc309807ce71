#ifndef PARCELFLOW_CSQLITE_SHIM_H
#define PARCELFLOW_CSQLITE_SHIM_H

// SQLite 3 (Debian libsqlite3-dev, 3.40 on Debian 12).
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro ((sqlite3_destructor_type)-1), which Swift cannot import: bind text
// that SQLite copies before the call returns.
static inline int CSQLite_bind_text_transient(sqlite3_stmt *statement, int index, const char *text, int bytes) {
    return sqlite3_bind_text(statement, index, text, bytes, SQLITE_TRANSIENT);
}

// sqlite3_db_config is variadic, which Swift cannot call: refuse "double-quoted" string literals, so a
// misspelt column name is an error instead of silently becoming a string.
static inline void CSQLite_disable_double_quoted_strings(sqlite3 *db) {
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (void *)0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (void *)0);
}

#endif
