# The optimizer set (NOTE(one-list)): one line per optimizer. Its name names its files:
# kernels/optimizers/<name>.h (the functors), include/fusedopt/<name>.hpp (the options and
# classes) and host/optimizers/<name>.cpp. After the name come the functors to instantiate,
# PLAIN for an optimizer without master weights or bf16 state (its layouts are then f32, f16
# and bf16 only), and after CLASSES the optimizer classes, each with its options type
# <Class>Options. From this list cmake/instances.cmake generates one small unit per optimizer
# and storage layout for the CPU and emulated executors and the CUDA kernels, and
# fusedopt/optimizer_list.hpp: the headers and FUSEDOPT_FOR_EACH_OPTIMIZER for tests, bench and
# tools.
fusedopt_optimizer(sgd           SGDOp                                    CLASSES SGD)
fusedopt_optimizer(adam          AdamStepOp AdamWStepOp                   CLASSES Adam AdamW)
fusedopt_optimizer(rmsprop       RMSpropOp                                CLASSES RMSprop)
fusedopt_optimizer(adagrad       AdagradOp                                CLASSES Adagrad)
fusedopt_optimizer(adamax        AdamaxOp                                 CLASSES Adamax)
fusedopt_optimizer(nadam         NAdamOp                                  CLASSES NAdam)
fusedopt_optimizer(radam         RAdamOp                                  CLASSES RAdam)
fusedopt_optimizer(adadelta      AdadeltaOp                               CLASSES Adadelta)
fusedopt_optimizer(rprop         RpropOp                                  CLASSES Rprop)
fusedopt_optimizer(asgd          ASGDOp                                   CLASSES ASGD)
fusedopt_optimizer(lion          LionOp                                   CLASSES Lion)
fusedopt_optimizer(schedule_free ScheduleFreeAdamWOp ScheduleFreeSwitchOp CLASSES AdamWScheduleFree)
fusedopt_optimizer(averaging     AveragingOp PLAIN)
