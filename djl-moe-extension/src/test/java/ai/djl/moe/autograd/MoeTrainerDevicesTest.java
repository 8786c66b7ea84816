package ai.djl.moe.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;

import org.junit.jupiter.api.Test;

/** {@link MoeTrainer} takes one device per process and names the devices of a config with more. */
class MoeTrainerDevicesTest {

    @Test
    void aConfigWithSeveralDevicesIsRefusedNamingThem() {
        try (Model model = Model.newInstance("devices", Device.cpu())) {
            model.setBlock(Linear.builder().setUnits(1).build());
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {Device.gpu(0), Device.gpu(1)});
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class, () -> new MoeTrainer(model, config));
            assertTrue(e.getMessage().contains("one device per process"), e.getMessage());
            assertTrue(e.getMessage().contains("2 [gpu(0), gpu(1)]"), e.getMessage());
            assertTrue(e.getMessage().contains("optDevices"), e.getMessage());
        }
    }

    @Test
    void oneDeviceIsTheTrainersDevice() {
        try (Model model = Model.newInstance("device", Device.cpu())) {
            model.setBlock(Linear.builder().setUnits(1).build());
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.l2Loss())
                            .optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = new MoeTrainer(model, config)) {
                assertEquals(1, trainer.getDevices().length);
                assertEquals(Device.cpu(), trainer.getDevices()[0]);
            }
        }
    }
}
