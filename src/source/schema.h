// schema.h: helpers shared by the SQL tables: quoting validated identifiers and checking that a
// getter's SqlValue matches its column's declared type.
#pragma once

#include <string>
#include <string_view>

#include "strata/source/table_mapping.h"

namespace strata::source {

// "name" (double-quoted). Only for identifiers that passed validate_identifier, which excludes
// quotes, so no escaping is needed.
[[nodiscard]] std::string quote(std::string_view identifier);

// Throws InvalidArgumentError when `value` is neither NULL nor the alternative `column` takes.
void check_value(const ColumnSpec& column, const SqlValue& value);

}  // namespace strata::source
