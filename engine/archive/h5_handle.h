// H5Handle: closes an HDF5 id (file, group, dataset, dataspace, type,
// attribute) with its matching H5?close when it leaves scope. Shared by the
// .keras weights reader and writer. Not thread-safe (HDF5 ids are not).
#ifndef FORNAX_ENGINE_ARCHIVE_H5_HANDLE_H_
#define FORNAX_ENGINE_ARCHIVE_H5_HANDLE_H_

#include <hdf5.h>

namespace fornax {

class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_HANDLE_H_
