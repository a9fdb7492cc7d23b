#include "deferred.hpp"

namespace poolbench {

std::string describe_exception(const std::exception_ptr& error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
  return "no exception";
}

}  // namespace poolbench
