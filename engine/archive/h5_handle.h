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

// h5py's (and so Keras's) IEEE half-precision float type, which HDF5 1.10
// does not predefine; the caller closes it.
inline hid_t CreateFloat16Type() {
  hid_t type = H5Tcopy(H5T_IEEE_F32LE);
  if (type >= 0 && (H5Tset_fields(type, 15, 10, 5, 0, 10) < 0 || H5Tset_size(type, 2) < 0 ||
                    H5Tset_ebias(type, 15) < 0)) {
    H5Tclose(type);
    return -1;
  }
  return type;
}

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_HANDLE_H_
