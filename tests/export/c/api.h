/* Names of one exported model's C API, for the test programs here, which are built for
 * any export: compile with -DKCC_MODEL=<name> -DKCC_MODEL_UPPER=<NAME> and include
 * the export's <name>.h through KCC_HEADER ("<name>.h"). API(predict) is <name>_predict,
 * ST(OK) is <NAME>_OK. */
#ifndef KCC_TEST_API_H
#define KCC_TEST_API_H
#define KCC_CAT3_(a, b) a##_##b
#define KCC_CAT3(a, b) KCC_CAT3_(a, b)
#define API(f) KCC_CAT3(KCC_MODEL, f)
#define ST(s) KCC_CAT3(KCC_MODEL_UPPER, s)
#define KCC_STR_(x) #x
#define KCC_STR(x) KCC_STR_(x)
#include KCC_STR(KCC_MODEL.h)
typedef API(model) model_t;
typedef API(tensor_info) info_t;
typedef API(status) status_t;
#endif
