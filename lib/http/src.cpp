// Boost.Asio and Boost.Beast compiled once for the whole project (BOOST_*_SEPARATE_COMPILATION), instead of in
// every translation unit that includes them: this keeps build times down.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
